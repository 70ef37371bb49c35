// The browser demo at /demo: plain HTML and a little script, served as is (no build step).
// Everything the page sees is also kept in window.demo.events, for test/browser to read.
export const demoPage = `<!doctype html>
<meta charset="utf-8">
<title>fastify-authentication demo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2em; max-width: 50em }
  #log { font-family: monospace; white-space: pre-wrap; border: 1px solid #ccc; padding: .5em; min-height: 6em }
  .state { font-weight: bold }
</style>
<h1>fastify-authentication demo</h1>
<form method="post" action="/logout">You are: <span id="who" class="state">…</span>
  <a href="/login?next=%2Fdemo">log in</a> <button id="logout">log out</button></form>
<p>
  <button id="connect-cookie">connect (cookie)</button>
  <button id="connect-ticket">connect (ticket)</button>
  <button id="reuse-ticket">reuse the last ticket</button>
  <button id="disconnect">disconnect</button>
</p>
<p>Socket: <span id="state" class="state">not connected</span>; last close: <span id="close">none</span></p>
<form id="send"><input id="text" value="hi there" autocomplete="off"> <button>send</button></form>
<p>Messages and events:</p>
<div id="log"></div>
<p><small>A ticket works once. A used ticket is refused, even while you are logged in: a rejected
  credential refuses the handshake, whatever the session cookie says.
  A short session ends after a few seconds: the server then closes the socket with 1008.</small></p>
<script>
  'use strict'
  const demo = window.demo = { events: [], socket: null, lastTicket: null, who: null, connections: 0 }
  const $ = (id) => document.getElementById(id)

  function log (event) {
    demo.events.push(event)
    const line = document.createElement('div')
    line.textContent = event.type + ' ' + JSON.stringify(event, (key, value) => key === 'type' ? undefined : value)
    $('log').append(line)
  }

  // Who the page is, from an HTTP call: GET / answers with request.user and request.auth.
  demo.refresh = async function () {
    const me = await (await fetch('/')).json()
    demo.who = me
    $('who').textContent = me.authenticated ? me.user + ' (' + me.scopes.join(', ') + ')' : 'anonymous'
    log({ type: 'who', user: me.user, authenticated: me.authenticated })
    return me
  }

  // A ticket for the next handshake, asked for with the session cookie.
  demo.ticket = async function () {
    const answer = await fetch('/ws-ticket', { method: 'POST' })
    if (!answer.ok) {
      log({ type: 'ticket-refused', status: answer.status })
      return null
    }
    demo.lastTicket = (await answer.json()).ticket
    log({ type: 'ticket' })
    return demo.lastTicket
  }

  // how: 'cookie' (the browser sends the session cookie), 'ticket' (a fresh one) or 'reuse' (the last one again).
  // Each connection's events carry its number, id.
  demo.connect = async function (how) {
    const id = ++demo.connections
    if (demo.socket !== null) demo.socket.close()
    let protocols = []
    if (how !== 'cookie') {
      const ticket = how === 'reuse' ? demo.lastTicket : await demo.ticket()
      if (ticket === null) return id
      // The server selects 'demo' and never echoes the ticket.
      protocols = ['demo', 'ticket.' + ticket]
    }
    const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws', protocols)
    demo.socket = socket
    const state = (text) => { if (demo.socket === socket) $('state').textContent = text }
    state('connecting (' + how + ')')
    log({ type: 'connecting', id, how })
    socket.onopen = () => { state('open (' + how + ')'); log({ type: 'open', id, how, protocol: socket.protocol }) }
    socket.onmessage = (message) => log({ type: 'message', id, how, data: message.data })
    socket.onerror = () => log({ type: 'error', id, how })
    socket.onclose = (event) => {
      log({ type: 'close', id, how, code: event.code, reason: event.reason })
      if (demo.socket !== socket) return
      demo.socket = null
      $('state').textContent = 'closed'
      $('close').textContent = event.code + (event.reason === '' ? '' : ' ' + event.reason)
    }
    return id
  }

  demo.send = function (text) {
    if (demo.socket === null || demo.socket.readyState !== WebSocket.OPEN) return false
    demo.socket.send(text)
    log({ type: 'sent', data: text })
    return true
  }

  $('connect-cookie').onclick = () => demo.connect('cookie')
  $('connect-ticket').onclick = () => demo.connect('ticket')
  $('reuse-ticket').onclick = () => demo.connect('reuse')
  $('disconnect').onclick = () => { if (demo.socket !== null) demo.socket.close(1000, 'bye') }
  $('send').onsubmit = (event) => { event.preventDefault(); demo.send($('text').value) }
  demo.ready = demo.refresh()
</script>
`
