// Wall-clock facts of an instant in a store's time zone (schedules, daily footfall).
// Formatters are cached per zone: building one costs far more than using it.

const formatters = new Map<string, Intl.DateTimeFormat>()

/** Local date (YYYY-MM-DD), minutes since midnight and weekday of `ts` in a time zone. */
export function localTime(ts: number, timeZone: string): { date: string; minutes: number; weekday: string } {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', weekday: 'short' })
    formatters.set(timeZone, f)
  }
  const parts = f.formatToParts(ts)
  const get = (t: string) => parts.find(p => p.type === t)?.value ?? ''
  return { date: `${get('year')}-${get('month')}-${get('day')}`, minutes: Number(get('hour')) * 60 + Number(get('minute')), weekday: get('weekday').toLowerCase().slice(0, 3) }
}
