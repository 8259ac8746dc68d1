/** An axis-aligned rectangle as a GeoJSON polygon, for building test sites. */
export const rect = (x0: number, y0: number, x1: number, y1: number) => ({
  type: 'Polygon' as const,
  coordinates: [
    [
      [x0, y0],
      [x1, y0],
      [x1, y1],
      [x0, y1],
      [x0, y0]
    ]
  ]
})

/** A department-store front: one 30 x 20 m shop, rows of sensors 3, 10 and 17 m in, 11 m apart (the street tests put the street 4 m out). */
export const departmentFront = () => ({
  type: 'FeatureCollection' as const,
  storeId: 's',
  features: [
    { type: 'Feature' as const, properties: { kind: 'shop' as const, id: 'shop' }, geometry: rect(0, 0, 30, 20) },
    ...[3, 10, 17].flatMap(y =>
      [4, 15, 26].map(x => ({ type: 'Feature' as const, properties: { kind: 'sensor' as const, id: `s${x}-${y}` }, geometry: { type: 'Point' as const, coordinates: [x, y] } }))
    )
  ]
})
