// MQTT topic names (contract §2, §4). The prefix is configurable; `instore` by default.
export const DEFAULT_PREFIX = 'instore'

export const topics = {
  readings: (p: string, store: string, sensor: string) => `${p}/${store}/sensors/${sensor}/readings`,
  status: (p: string, store: string, sensor: string) => `${p}/${store}/sensors/${sensor}/status`,
  scans: (p: string, store: string, device: string) => `${p}/${store}/devices/${device}/scans`,
  position: (p: string, store: string, subject: string) => `${p}/${store}/positions/${subject}`,
  event: (p: string, store: string, type: string) => `${p}/${store}/events/${type}`,
  occupancy: (p: string, store: string) => `${p}/${store}/occupancy`,
  /** Extension: today's footfall estimate, retained. */
  footfall: (p: string, store: string) => `${p}/${store}/footfall`
}
