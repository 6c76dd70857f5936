import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One process's metrics as `registry.getMetricsAsJSON()` gives them. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export interface MetricSources {
  workspaceStates: () => Record<string, number>;
  openWebSockets: () => number;
  /** The other processes' metrics (a cluster's workers), summed into this one's. */
  others?: () => Promise<MetricsJson[]>;
}

/** Prometheus metrics, named by the conventions: `_total` counters, `_seconds` histograms. */
export function createMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'workspace_gateway_' });
  const m = {
    registry,
    /** The text /metrics answers. */
    async render(): Promise<string> {
      if (!sources.others) return registry.metrics();
      const all = [await registry.getMetricsAsJSON(), ...(await sources.others())];
      return AggregatorRegistry.aggregate(all).metrics();
    },
    spawns: new Counter({
      name: 'workspace_gateway_spawns_total',
      help: 'Workspace spawns and wakes, by outcome.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    spawnSeconds: new Histogram({
      name: 'workspace_gateway_spawn_duration_seconds',
      help: 'Time from spawn start until the editor answered.',
      buckets: [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    }),
    idleStops: new Counter({ name: 'workspace_gateway_idle_stops_total', help: 'Workspaces stopped by the idle policy.', registers: [registry] }),
    removals: new Counter({ name: 'workspace_gateway_removals_total', help: 'Containers removed by the removal policy.', registers: [registry] }),
    proxied: new Counter({ name: 'workspace_gateway_proxied_requests_total', help: 'HTTP requests forwarded to workspaces.', registers: [registry] }),
    upstreamErrors: new Counter({
      name: 'workspace_gateway_upstream_errors_total',
      help: 'Failures talking to a workspace, by kind.',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    errorResponses: new Counter({
      name: 'workspace_gateway_error_responses_total',
      help: "Errors the gateway answered itself (not the workspaces' own), by status.",
      labelNames: ['status'] as const,
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'workspace_gateway_workspaces',
    help: 'Workspaces known to the gateway, by state.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(sources.workspaceStates())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'workspace_gateway_open_websockets',
    help: 'Proxied WebSockets open now.',
    registers: [registry],
    collect() {
      this.set(sources.openWebSockets());
    },
  });
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
