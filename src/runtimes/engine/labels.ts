/** Labels that make a container, service, volume or network the gateway's; the engine is the state store. */
export const LABEL = {
  managed: 'workspace-gateway.managed',
  instance: 'workspace-gateway.instance',
  user: 'workspace-gateway.user',
  image: 'workspace-gateway.image',
  /** swarm: the node holding the workspace's volume, where its service is pinned. */
  node: 'workspace-gateway.node',
} as const;

/** The label filter for everything one gateway instance owns. */
export const scopeLabels = (instance: string): string[] => [`${LABEL.managed}=true`, `${LABEL.instance}=${instance}`];

/** Labels of something one instance owns; a user's workspace also names its user and image. */
export function ownedLabels(instance: string, workspace?: { user: string; image: string }): Record<string, string> {
  const labels: Record<string, string> = { [LABEL.managed]: 'true', [LABEL.instance]: instance };
  if (workspace) {
    labels[LABEL.user] = workspace.user;
    labels[LABEL.image] = workspace.image;
  }
  return labels;
}
