// Medians, ranges, and ratios of runs made side by side.

export function median (values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** The median of some values, and their smallest and largest (NaN for none). */
export interface Spread {
  median: number
  min: number
  max: number
}

export function spread (values: readonly number[]): Spread {
  const finite = values.filter(Number.isFinite)
  return finite.length === 0
    ? { median: NaN, min: NaN, max: NaN }
    : { median: median(finite), min: Math.min(...finite), max: Math.max(...finite) }
}

/** The pass-by-pass ratios a[i] / b[i]: each pass compares runs made side by side. */
export function pairedRatios (a: readonly number[], b: readonly number[]): number[] {
  const ratios: number[] = []
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] > 0) ratios.push(a[i] / b[i])
  }
  return ratios
}

/** The median of the pass-by-pass ratios. */
export function pairedRatio (a: readonly number[], b: readonly number[]): number {
  return median(pairedRatios(a, b))
}
