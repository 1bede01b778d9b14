export class SftpBackend {
  static fromLocation(_rest: string, _options: Record<string, string>): never {
    throw new Error('sftp: not yet');
  }
}
