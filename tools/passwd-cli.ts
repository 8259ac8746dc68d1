// instore-passwd: prints the scrypt hash of a password for the gateway's auth file.
import { runCommand, UsageError } from '../shared/cli.ts'
import { hashPassword } from '../gateway/io/broker-auth.ts'

const spec = {
  name: 'instore-passwd',
  summary: "hash a broker password for the gateway's --auth file",
  usage: 'instore-passwd --password SECRET   (or the password on standard input)',
  options: { password: { type: 'string', doc: 'the password (default: read from standard input)' } }
} as const

await runCommand(spec, async o => {
  let pw = o.password
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
