// Gitignore-like patterns for --exclude and --exclude-file, matched against absolute paths:
//   *.tmp          a name at any depth          /var/cache   anchored at the root
//   build/         directories only             **/logs/*.gz  ** spans any number of directories
//   !keep.tmp      re-includes what an earlier pattern excluded (the last matching pattern wins)
// Also used for restore's --include/--exclude.

interface Rule {
  regex: RegExp;
  dirOnly: boolean;
  negate: boolean;
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        out += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        out += `[${body}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) out += '\\' + glob[++i];
    else out += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return out;
}

export class PathMatcher {
  readonly #rules: Rule[];

  constructor(patterns: string[]) {
    this.#rules = patterns
      .map((p) => p.trim())
      .filter((p) => p !== '' && !p.startsWith('#'))
      .map((p) => {
        const negate = p.startsWith('!');
        let body = negate ? p.slice(1) : p;
        const dirOnly = body.endsWith('/');
        if (dirOnly) body = body.replace(/\/+$/, '');
        const anchored = body.startsWith('/');
        const prefix = anchored ? '^' : '(?:^|/)';
        // A match of a directory also covers everything below it.
        return { regex: new RegExp(`${prefix}${globToRegex(anchored ? body.slice(1).replace(/^/, '/') : body)}(?:/.*)?$`, 's'), dirOnly, negate };
      });
  }

  get empty(): boolean {
    return this.#rules.length === 0;
  }

  /** True when `path` (absolute, '/'-separated) is matched, considering negations. */
  matches(path: string, isDir: boolean): boolean {
    let matched = false;
    for (const rule of this.#rules) {
      if (rule.dirOnly && !isDir && !rule.regex.test(parentOf(path))) continue;
      if (rule.regex.test(path)) matched = !rule.negate;
    }
    return matched;
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
