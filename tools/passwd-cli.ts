// instore-passwd: prints the scrypt hash of a password for the gateway's auth file.
import { runCommand, UsageError } from '../shared/cli.ts'
import { hashPassword } from '../gateway/io/broker-auth.ts'

const spec = {
  name: 'instore-passwd',
  summary: "hash a broker password for the gateway's --auth file",
  usage: 'instore-passwd   (type the password, then Ctrl-D; or pipe it in)',
  options: {
    password: {
      type: 'string',
      doc: 'the password; every local user sees a command line (ps) and the shell keeps it in its history, so prefer standard input (default: read from standard input)'
    }
  }
} as const

await runCommand(spec, async o => {
  let pw = o.password
  // On stderr: the hash on stdout stays the only thing a script captures.
  if (pw !== undefined)
    process.stderr.write('instore-passwd: warning: --password is visible to every local user (ps) and kept in the shell history: prefer typing it on standard input\n')
  if (pw === undefined) {
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(c as Buffer)
    pw = Buffer.concat(chunks)
      .toString()
      .replace(/\r?\n$/, '')
  }
  if (pw.length < 8) throw new UsageError('a password needs at least 8 characters')
  process.stdout.write(hashPassword(pw) + '\n')
})
