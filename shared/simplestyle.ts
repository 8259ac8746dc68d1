// GeoJSON styling keys a site file's features may carry (site-schema.ts spreads them into each feature).
import { Type } from '@sinclair/typebox'

/**
 * GeoJSON editors' styling keys (simplestyle-spec 1.1.0, as geojson.io writes them): allowed on every
 * feature so a site drawn in such an editor loads; the gateway ignores them. Any other unknown key is refused.
 */
export const SimpleStyle = {
  title: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  'marker-size': Type.Optional(Type.Union([Type.Literal('small'), Type.Literal('medium'), Type.Literal('large')])),
  'marker-symbol': Type.Optional(Type.String()),
  'marker-color': Type.Optional(Type.String()),
  stroke: Type.Optional(Type.String()),
  'stroke-opacity': Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  'stroke-width': Type.Optional(Type.Number({ minimum: 0 })),
  fill: Type.Optional(Type.String()),
  'fill-opacity': Type.Optional(Type.Number({ minimum: 0, maximum: 1 }))
}
export const SIMPLESTYLE_KEYS: readonly string[] = Object.keys(SimpleStyle)
