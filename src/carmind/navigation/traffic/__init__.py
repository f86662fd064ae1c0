"""Learning traffic from vehicle probes and feeding it to Valhalla.

The stages, each in its own module:

    probes         read GPS probe files; every row validated, rejects kept
    probe_formats  the CSV, Parquet and GPX readers behind `probes`
    matching       map-match probe traces to road edges with Valhalla's `trace_attributes`
    profiles       aggregate edge speeds into weekly profiles with DuckDB (bounded memory)
    valhalla_io    write the profiles as Valhalla historical traffic, and live speeds in place
    learn          the whole pipeline behind `carmind traffic learn`
    live           live speeds from the last minutes of probes (`carmind traffic live`)
    world          a simulated traffic world that drives vehicles and writes their probes
    congestion     the world's congestion model: time of week, road classes, days, incidents
    world_routes   the world's places and routes, asked of Valhalla
    evaluate       arrival-time error of free-flow, learned and live predictions on held-out trips

Times: probes carry absolute times; profiles are indexed by UTC time of week (bucket 0 is
Sunday 00:00 UTC, 2016 five-minute buckets), because the map's tiles carry no time-zone database
and Valhalla reads every time as UTC (see `carmind.navigation.maps`).
"""

from __future__ import annotations
