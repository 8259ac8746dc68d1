// A small Prometheus registry (text exposition format 0.0.4): counters and gauges with labels.
// Label values come from fixed sets (reasons, known sensors), so cardinality stays bounded.

type Labels = Record<string, string>

class Series {
  readonly values = new Map<string, { labels: Labels; value: number }>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge'
  ) {}
  private key(labels: Labels): string {
    return Object.keys(labels)
      .sort()
      .map(k => `${k}=${labels[k]}`)
      .join(',')
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = this.key(labels)
    const v = this.values.get(k)
    if (v) v.value += by
    else this.values.set(k, { labels, value: by })
  }

  set(labels: Labels, value: number): void {
    this.values.set(this.key(labels), { labels, value })
  }
  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels))?.value ?? 0
  }
  total(): number {
    let s = 0
    for (const v of this.values.values()) s += v.value
    return s
  }
}

export class Metrics {
  private readonly series = new Map<string, Series>()
  private readonly collectors: Array<() => void> = []

  counter(name: string, help: string): Series {
    return this.define(name, help, 'counter')
  }
  gauge(name: string, help: string): Series {
    return this.define(name, help, 'gauge')
  }

  /** Runs before each exposition (for gauges computed on demand). */
  onCollect(fn: () => void): void {
    this.collectors.push(fn)
  }

  private define(name: string, help: string, type: 'counter' | 'gauge'): Series {
    let s = this.series.get(name)
    if (!s) {
      s = new Series(name, help, type)
      this.series.set(name, s)
    }
    return s
  }

  text(): string {
    for (const c of this.collectors) c()
    const out: string[] = []
    for (const s of this.series.values()) {
      out.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`)
      if (s.values.size === 0) out.push(`${s.name} 0`)
      for (const { labels, value } of s.values.values()) {
        const l = Object.entries(labels)
          .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, c => (c === '\n' ? '\\n' : '\\' + c))}"`)
          .join(',')
        out.push(`${s.name}${l ? `{${l}}` : ''} ${value}`)
      }
    }
    return out.join('\n') + '\n'
  }
}
