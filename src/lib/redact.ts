// Secrets never appear in what is printed or shown in ps: a password in a URL is replaced.

/** `scheme://user:password@host...` with the password replaced by "***", wherever it occurs in `text`. */
export function maskUrlPassword(text: string): string {
  return text.replace(/(\w+:\/\/[^/:@\s]+:)[^@/\s]+@/g, '$1***@');
}

/** Whether `host` (a URL's hostname) is this machine: traffic to it never leaves it. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]' || host === '::1';
}
