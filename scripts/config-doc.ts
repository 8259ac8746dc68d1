// Writes docs/configuration.md from the schemas themselves: the site file (TypeBox SiteSchema,
// its radio and zones members and the feature properties), the gateway's and the server's
// options (their command specs, read through --help, which prints them with their defaults), the
// gateway's config file, and a campaign (CampaignSchema). A test regenerates it and fails when
// the committed file differs, so the reference cannot go stale.
// Usage: npm run docs:config (writes the file); --check exits 1 when the file is stale.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { SiteSchema, RadioSchema, ZoneParamsSchema, ShopProps, SectorProps, SensorProps, BeaconProps, RadioMapSchema } from '../shared/site-schema.ts'
import { SIMPLESTYLE_KEYS } from '../shared/simplestyle.ts'
import { CampaignSchema } from '../shared/campaigns.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const CONFIG_DOC = join(ROOT, 'docs/configuration.md')

/**
 * Descriptions for schema members that carry none of their own (keyed by the path printed in the
 * tables). A description written in the schema wins; a member with neither fails the test.
 */
const NOTES: Record<string, string> = {
  type: 'always FeatureCollection (GeoJSON)',
  storeId: "the store's id: MQTT topics, events and the central server use it",
  name: 'a display name',
  timezone: 'IANA time zone of the store: campaign schedules and local-time analytics use it',
  georef: 'where the local metric frame sits on Earth (for exports to maps)',
  'georef.origin': "longitude, latitude of the local frame's (0, 0)",
  'georef.bearingDeg': 'turn of the local frame clockwise from x east, y north (contract §1), degrees: the compass bearing of its y axis',
  radio: "the store's radio model (table below)",
  zones: 'zone hysteresis (table below)',
  features: "shops, sectors, sensors and beacons as GeoJSON features (tables below); coordinates in metres in the store's frame",
  pathLossExponent: 'log-distance path-loss exponent',
  kind: "the feature's kind",
  id: 'unique among the features of its kind',
  shop: 'the shop this sector belongs to',
  radios: 'what the sensor hears: ble, wifi or both (default both)',
  radioMap: 'per-sensor residual map written by instore-calibrate (grid of dB corrections)',
  aliases: 'other names this sensor goes by: an ESPresense node, an OpenMQTTGateway name',
  'rssiAt1m (beacon)': "the beacon's RSSI at 1 m, dBm",
  'z (beacon)': "the beacon's height, m",
  x0: 'grid origin x, m',
  y0: 'grid origin y, m',
  cell: 'grid cell size, m',
  nx: 'nodes along x',
  ny: 'nodes along y',
  values: 'dB correction per node, row by row',
  support: 'kernel weight of calibration samples per node: where the walk went (people can walk there)',
  'campaign.id': 'unique id of the campaign',
  'campaign.stores': 'the store ids it runs in',
  'campaign.when': 'the event that fires it',
  'campaign.when.event': 'shop.enter, shop.exit, sector.enter, sector.exit or sector.dwell',
  'campaign.when.shop': 'only in this shop',
  'campaign.when.sector': 'only in this sector',
  'campaign.when.minDwellS': 'for sector.dwell: fire once the stay reaches this many seconds',
  'campaign.audience': 'who may get it',
  'campaign.audience.segments': 'visit-frequency segments: first, returning, regular, lapsed',
  'campaign.schedule': "when it runs, in the store's time zone",
  'campaign.schedule.from': 'first day (YYYY-MM-DD)',
  'campaign.schedule.to': 'last day (YYYY-MM-DD)',
  'campaign.schedule.hours': 'opening windows [["HH:MM", "HH:MM"], ...]',
  'campaign.schedule.days': 'weekdays: mon ... sun',
  'campaign.cap': 'how often one shopper may get it',
  'campaign.cap.cooldownS': 'seconds before the same shopper can get this campaign again',
  'campaign.cap.perVisit': 'most triggers of this campaign per visit',
  'campaign.content': 'what the phone shows',
  'campaign.content.title': 'the message title',
  'campaign.content.body': 'the message text',
  'campaign.content.url': 'a link to open',
  'campaign.content.ttlMin': 'minutes the message stays worth showing (default 60): an "in-store now" offer expires',
  'campaign.active': 'false pauses the campaign',
  'campaign.name': 'a display name'
}

interface Row {
  path: string
  type: string
  required: boolean
  def: string
  constraints: string
  description: string
}
type Loose = TSchema & Record<string, unknown>

function typeName(s: Loose): string {
  if (s.const !== undefined) return JSON.stringify(s.const)
  if (Array.isArray(s.anyOf)) return (s.anyOf as Loose[]).map(typeName).join(' \\| ')
  if (s.type === 'array') {
    if (Array.isArray(s.items)) return `[${(s.items as Loose[]).map(typeName).join(', ')}]`
    const inner = typeName(s.items as Loose)
    return inner.includes('|') ? `(${inner})[]` : `${inner}[]`
  }
  return String(s.type ?? 'any')
}

function constraints(s: Loose): string {
  const parts: string[] = []
  if (s.minimum !== undefined && s.maximum !== undefined) parts.push(`${String(s.minimum)} to ${String(s.maximum)}`)
  else if (s.minimum !== undefined) parts.push(`≥ ${String(s.minimum)}`)
  else if (s.maximum !== undefined) parts.push(`≤ ${String(s.maximum)}`)
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${String(s.exclusiveMinimum)}`)
  if (s.minLength !== undefined || s.maxLength !== undefined) parts.push(`length ${String(s.minLength ?? 0)}-${String(s.maxLength ?? '∞')}`)
  if (s.pattern !== undefined) parts.push(`\`${String(s.pattern)}\``)
  if (s.minItems !== undefined || s.maxItems !== undefined) parts.push(`${String(s.minItems ?? 0)}-${String(s.maxItems ?? '∞')} items`)
  const items = s.items as Loose | undefined
  const each = items !== undefined && !Array.isArray(items) ? constraints(items) : ''
  if (each !== '') parts.push(`each ${each}`)
  return parts.join(', ')
}

/** The default written in the schema, else one the description states as "(default X)". */
function defaultOf(s: Loose, description: string): string {
  if (s.default !== undefined) return `\`${JSON.stringify(s.default)}\``
  const m = /\(default ([^)]+)\)|, default (\S+)$/.exec(description)
  return m ? (m[1] ?? m[2]) : ''
}

/** One row per member; nested objects (not in `stop`) get their members as dotted rows. */
export function schemaRows(schema: TSchema, prefix = '', noteKey: (path: string) => string = p => p, stop: readonly string[] = []): Row[] {
  const o = schema as Loose
  const props = (o.properties ?? {}) as Record<string, Loose>
  const required = new Set((o.required ?? []) as string[])
  const rows: Row[] = []
  for (const [k, s] of Object.entries(props)) {
    const path = prefix + k
    const description = typeof s.description === 'string' ? s.description : (NOTES[noteKey(path)] ?? NOTES[path] ?? NOTES[k] ?? '')
    rows.push({ path, type: typeName(s), required: required.has(k), def: defaultOf(s, description), constraints: constraints(s), description })
    if (s.type === 'object' && !stop.includes(path)) rows.push(...schemaRows(s, path + '.', noteKey, stop))
  }
  return rows
}

const cell = (t: string) => t.replace(/\|(?![^`]*`)/g, '\\|').replace(/\n/g, ' ')

function table(rows: Row[]): string {
  const out = ['| key | type | required | default | allowed | description |', '|---|---|---|---|---|---|']
  for (const r of rows) out.push(`| \`${r.path}\` | ${r.type} | ${r.required ? 'yes' : ''} | ${cell(r.def)} | ${cell(r.constraints)} | ${cell(r.description)} |`)
  return out.join('\n')
}

interface CliOption {
  flag: string
  value: string
  def: string
  description: string
}

/** The options a command prints with --help (the same spec it parses its command line with). */
export function cliOptions(bin: string): CliOption[] {
  const help = execFileSync(process.execPath, [join(ROOT, 'bin', bin + '.mjs'), '--help'], { cwd: ROOT, encoding: 'utf8' })
  const out: CliOption[] = []
  for (const line of help.split('\n')) {
    const m = /^ {2}(--[a-z0-9-]+)(?: (\S+))?\s{2,}(.*)$/.exec(line)
    if (!m || m[1] === '--help') continue
    const d = /^(.*) \(default ([^)]*)\)$/.exec(m[3])
    out.push({ flag: m[1], value: m[2] ?? '', def: d ? d[2] : '', description: d ? d[1] : m[3] })
  }
  return out
}

function cliTable(opts: CliOption[]): string {
  const out = ['| option | value | default | description |', '|---|---|---|---|']
  for (const o of opts) out.push(`| \`${o.flag}\` | ${cell(o.value)} | ${cell(o.def)} | ${cell(o.description)} |`)
  return out.join('\n')
}

export function renderConfigDoc(): string {
  const stop = ['radio', 'zones']
  const site = schemaRows(SiteSchema, '', p => p, stop).filter(r => !r.path.startsWith('features.'))
  const props = (schema: TSchema, kind: string) => table(schemaRows(schema, '', p => `${p} (${kind})`, ['radioMap']).filter(r => !SIMPLESTYLE_KEYS.includes(r.path)))
  const campaign = schemaRows(CampaignSchema, '', p => `campaign.${p}`)
  const gateway = cliOptions('instore-gateway')
  const server = cliOptions('instore-server')
  return `<!-- Generated by \`npm run docs:config\` (scripts/config-doc.ts) from the schemas; do not edit by hand. -->
# Configuration reference

Every setting with its default, as the code reads it. Generated from the TypeBox schemas
(\`shared/site-schema.ts\`, \`shared/campaigns.ts\`) and the commands' option specs; a test fails
when this file is stale. Units are in the descriptions (s, m, dB, dBm).

- [Site file](#site-file): the store's map, sensors, radio model and zone hysteresis
- [Gateway options](#gateway-options) and its [config file](#gateway-config-file)
- [Server options](#server-options)
- [Campaign](#campaign)

The commands are \`bin/instore-*.mjs\` in the checkout. Contract §8 says \`npm ci\` installs them;
npm does not link a package's own \`bin\` entries into \`node_modules/.bin\` (only its
dependencies'), so after \`npm ci\` they are not on the \`PATH\`: run \`node bin/instore-server.mjs\`
(what the unit files in \`deploy/\` do, and what anything run as a service must do: \`npx\` does not
pass SIGTERM on, see [deployment](deployment.md#the-central-server)), or \`npx instore-server\`
from a shell for a try-out.

## Site file

One JSON file per store (\`sites/*.site.json\`, contract §1): a GeoJSON FeatureCollection in the
store's local metric frame. \`instore-gateway --site FILE\` reads it; every problem is listed at start-up.
Every object in it is closed: a key not in these tables (a misspelling such as \`shopExitSecs\`) is
refused as an \`unknown key\`, with the key it probably meant.

${table(site)}

### \`radio\`

${table(schemaRows(RadioSchema))}

### \`zones\`

Hysteresis of shop and sector entries and exits. Any member left out takes its default.

${table(schemaRows(ZoneParamsSchema))}

### Shop feature properties (\`kind: "shop"\`, Polygon geometry)

${props(ShopProps, 'shop')}

### Sector feature properties (\`kind: "sector"\`, Polygon geometry)

${props(SectorProps, 'sector')}

### Sensor feature properties (\`kind: "sensor"\`, Point geometry)

${props(SensorProps, 'sensor')}

### Beacon feature properties (\`kind: "beacon"\`, Point geometry)

${props(BeaconProps, 'beacon')}

### Styling keys (every feature)

A site drawn in a GeoJSON editor (geojson.io) carries its styling keys: every feature may hold exactly
the simplestyle-spec 1.1.0 keys ${SIMPLESTYLE_KEYS.map(k => `\`${k}\``).join(', ')} (\`name\` is in the tables
above). The gateway ignores them; any other key is still refused.

### \`radioMap\` (written by \`instore-calibrate\`)

${table(schemaRows(RadioMapSchema))}

## Gateway options

\`instore-gateway [options]\` (\`--help\` prints the same list).

${cliTable(gateway)}

## Gateway config file

\`instore-gateway --config FILE\` reads a JSON object whose keys are the option names above
(without \`--\`), for example \`{ "site": "sites/boutique.site.json", "port": 1883, "data": "/var/lib/instore" }\`.
Numbers are JSON numbers, switches JSON booleans. The command line wins over the file; an unknown
key, a value of the wrong type or not among an option's choices is refused, every problem listed,
and the gateway does not start; a value the gateway's own checks refuse (a port out of range)
names the file and the key.

## Server options

\`instore-server [options]\` (\`--help\` prints the same list).

${cliTable(server)}

## Campaign

One campaign (\`POST /v1/campaigns\`, or an element of the gateway's \`--campaigns\` file). One that
could never fire is refused: a date not on the calendar, \`from\` after \`to\`, an hour range that
ends before it starts; on the server also a store not registered yet, or a \`when.shop\`/\`when.sector\`
its store's site does not have ([API](api.md#errors)).

${table(campaign)}
`
}

/** Members that have no description anywhere (the test lists them). */
export function undocumented(): string[] {
  const all = [
    ...schemaRows(SiteSchema, '', p => p, ['radio', 'zones']),
    ...schemaRows(RadioSchema),
    ...schemaRows(ZoneParamsSchema),
    ...schemaRows(ShopProps),
    ...schemaRows(SectorProps),
    ...schemaRows(SensorProps, '', p => p, ['radioMap']),
    ...schemaRows(BeaconProps, '', p => `${p} (beacon)`),
    ...schemaRows(RadioMapSchema),
    ...schemaRows(CampaignSchema, '', p => `campaign.${p}`)
  ]
  return all.filter(r => r.description === '' && !SIMPLESTYLE_KEYS.includes(r.path.replace(/ \(beacon\)$/, ''))).map(r => r.path)
}

function main(): number {
  const text = renderConfigDoc()
  if (process.argv.includes('--check')) {
    let now = ''
    try {
      now = readFileSync(CONFIG_DOC, 'utf8')
    } catch {
      /* missing counts as stale */
    }
    if (now === text) return 0
    process.stderr.write('docs/configuration.md is stale: run npm run docs:config\n')
    return 1
  }
  writeFileSync(CONFIG_DOC, text)
  return 0
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main()
