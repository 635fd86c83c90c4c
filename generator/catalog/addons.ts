import type { Addon, CatalogRelease } from '../model/index.js';

/**
 * Add-ons that upstream retired, and what a site asking for one gets. kubernetes/dashboard was
 * archived in January 2026; SIG UI maintains Headlamp. A release that still carries dashboard
 * images keeps it (old sites stay as they were); a newer one gives Headlamp in its place.
 */
export const ADDON_SUCCESSORS: Partial<Record<Addon, Addon>> = { dashboard: 'headlamp' };

export const hasAddonImages = (release: CatalogRelease, addon: Addon) => release.images.some((i) => i.when.addon === addon);

/** The add-on the release actually provides for a requested one. */
export function effectiveAddon(release: CatalogRelease, addon: Addon): Addon {
  const successor = ADDON_SUCCESSORS[addon];
  return successor && !hasAddonImages(release, addon) && hasAddonImages(release, successor) ? successor : addon;
}

/** The site's add-ons as the release provides them, each once, in the order written. */
export function effectiveAddons(release: CatalogRelease, addons: readonly Addon[]): Addon[] {
  return [...new Set(addons.map((a) => effectiveAddon(release, a)))];
}
