/**
 * Role names and delegation rules as notary 0.7 enforces them (docs/formats.md §1.4, §5.6):
 * the four base roles, and delegations `targets/…` of `[-a-z0-9_/]`, shorter than 256 bytes,
 * path-clean. Wildcards (`targets/*`) exist only in changelists and never in metadata.
 */
import { ValidationError } from './errors.ts';
import type { RoleName } from './types.ts';

export const ROOT = 'root' as RoleName;
export const TARGETS = 'targets' as RoleName;
export const SNAPSHOT = 'snapshot' as RoleName;
export const TIMESTAMP = 'timestamp' as RoleName;
export const BASE_ROLES: readonly RoleName[] = [ROOT, TARGETS, SNAPSHOT, TIMESTAMP];

const DELEGATION_CHARS = /^[-a-z0-9_/]+$/;

export function isBaseRole(name: string): boolean {
  return name === 'root' || name === 'targets' || name === 'snapshot' || name === 'timestamp';
}

/** True for a valid delegation name: `targets/x[/y…]`, clean, lower-case, < 256 bytes. */
export function isDelegationName(name: string): boolean {
  if (name.length >= 256 || !DELEGATION_CHARS.test(name) || !name.startsWith('targets/')) return false;
  // path.Clean(name) === name: no empty, `.` or `..` segments and no trailing slash.
  return name.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

export function isValidRoleName(name: string): boolean {
  return isBaseRole(name) || isDelegationName(name);
}

export function parseRoleName(name: string, path = 'role'): RoleName {
  if (!isValidRoleName(name)) {
    throw new ValidationError('INVALID_ROLE', `tuf: invalid role ${name}. not a valid role name`, path);
  }
  return name as RoleName;
}

export function parseDelegationName(name: string, path = 'role'): RoleName {
  if (!isDelegationName(name)) throw new ValidationError('INVALID_ROLE', `invalid delegation name ${name}`, path);
  return name as RoleName;
}

/** The delegating role of a delegation (`targets/a/b` → `targets/a`); undefined for base roles. */
export function parentRole(name: RoleName): RoleName | undefined {
  if (!isDelegationName(name)) return undefined;
  return name.slice(0, name.lastIndexOf('/')) as RoleName;
}

/** Delegations ordered so that every parent comes before its children (depth, then name). */
export function parentsFirst<T extends string>(names: Iterable<T>): T[] {
  return [...names].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Effective paths of a child role: its own paths that fall under one of the parent's effective
 * paths (plain string prefixes, `""` meaning everything). `targets` has the implicit path `""`.
 */
export function restrictPaths(parentPaths: readonly string[], childPaths: readonly string[]): string[] {
  return childPaths.filter((p) => parentPaths.some((pp) => p.startsWith(pp)));
}

export function pathAllowed(paths: readonly string[], target: string): boolean {
  return paths.some((p) => target.startsWith(p));
}
