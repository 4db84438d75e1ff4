/**
 * Generates the publishable declaration of the API's types: `AppRouter` rebuilt from tRPC's
 * public procedure types, with every input, output and the error shape written out in full,
 * so the emitted `.d.ts` never refers to `@gatehouse/api`, `@gatehouse/db`, Kysely, Fastify or
 * any other server package — only `@trpc/server`, which `@trpc/client` needs anyway.
 *
 * It reads the real `AppRouter` with the TypeScript compiler API and fails on anything it cannot
 * express (an `any`, a type parameter, a function), so a bad type cannot slip into the SDK.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

const PROBE = `
import type { AppRouter, AuditEvent, ErrorReason, Session, SignInResult, User } from '@gatehouse/api';
export type __Record = AppRouter['_def']['record'];
export type __ErrorShape = AppRouter['_def']['_config']['$types']['errorShape'];
export type __User = User;
export type __Session = Session;
export type __AuditEvent = AuditEvent;
export type __SignInResult = SignInResult;
export type __ErrorReason = ErrorReason;
`;

class Printer {
  constructor(private readonly checker: ts.TypeChecker) {}

  private isLibSymbol(symbol: ts.Symbol | undefined): boolean {
    const declarations = symbol?.getDeclarations() ?? [];
    return (
      declarations.length > 0 &&
      declarations.every((d) => /[\\/]typescript[\\/]lib[\\/]lib\..*\.d\.ts$/.test(d.getSourceFile().fileName))
    );
  }

  print(type: ts.Type, where: string, depth = 0): string {
    const c = this.checker;
    if (depth > 40) throw new Error(`${where}: type nests too deeply`);
    const f = type.flags;
    if (f & ts.TypeFlags.Any) throw new Error(`${where}: inferred type is the any type`);
    if (f & ts.TypeFlags.TypeParameter) throw new Error(`${where}: unresolved type parameter`);
    if (
      f &
      (ts.TypeFlags.Unknown |
        ts.TypeFlags.String |
        ts.TypeFlags.Number |
        ts.TypeFlags.Boolean |
        ts.TypeFlags.BigInt |
        ts.TypeFlags.Null |
        ts.TypeFlags.Undefined |
        ts.TypeFlags.Void |
        ts.TypeFlags.Never |
        ts.TypeFlags.ESSymbol |
        ts.TypeFlags.StringLiteral |
        ts.TypeFlags.NumberLiteral |
        ts.TypeFlags.BooleanLiteral |
        ts.TypeFlags.BigIntLiteral)
    ) {
      return c.typeToString(type);
    }
    if (type.isUnion()) {
      const parts = type.types.map((t) => this.print(t, where, depth + 1));
      // `true | false` reads better as boolean.
      const hasTrue = parts.includes('true');
      const hasFalse = parts.includes('false');
      const rest = parts.filter((p) => !(hasTrue && hasFalse && (p === 'true' || p === 'false')));
      if (hasTrue && hasFalse) rest.push('boolean');
      return [...new Set(rest)].join(' | ');
    }
    if (type.isIntersection()) return type.types.map((t) => `(${this.print(t, where, depth + 1)})`).join(' & ');
    if (f & ts.TypeFlags.TemplateLiteral) return c.typeToString(type);
    if (f & ts.TypeFlags.NonPrimitive) return 'object';
    if (f & ts.TypeFlags.Object) return this.printObject(type as ts.ObjectType, where, depth);
    throw new Error(`${where}: cannot express ${c.typeToString(type)}`);
  }

  private printObject(type: ts.ObjectType, where: string, depth: number): string {
    const c = this.checker;
    if (c.isTupleType(type)) {
      const args = c.getTypeArguments(type as ts.TypeReference);
      return `[${args.map((a) => this.print(a, where, depth + 1)).join(', ')}]`;
    }
    if (c.isArrayType(type)) {
      const [element] = c.getTypeArguments(type as ts.TypeReference);
      if (!element) throw new Error(`${where}: array without element type`);
      const readonly = type.symbol?.name === 'ReadonlyArray' ? 'ReadonlyArray' : 'Array';
      return `${readonly}<${this.print(element, where, depth + 1)}>`;
    }
    const symbol = type.aliasSymbol ?? type.symbol;
    // Globals (Date, AsyncIterable, Uint8Array…) keep their names: every consumer has them.
    if (this.isLibSymbol(type.symbol) && type.symbol.name !== '__type' && type.symbol.name !== '__object') {
      const args = type.objectFlags & ts.ObjectFlags.Reference ? c.getTypeArguments(type as ts.TypeReference) : [];
      // A subscription's generator: only what it yields matters to a client (its return and
      // next types are `any` by default).
      if (/^Async(Generator|Iterable|IterableIterator|Iterator)$/.test(type.symbol.name) && args[0]) {
        return `AsyncIterable<${this.print(args[0], where, depth + 1)}>`;
      }
      return args.length > 0
        ? `${type.symbol.name}<${args.map((a) => this.print(a, where, depth + 1)).join(', ')}>`
        : type.symbol.name;
    }
    if (
      c.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0 ||
      c.getSignaturesOfType(type, ts.SignatureKind.Construct).length > 0
    ) {
      throw new Error(`${where}: functions cannot cross the API (${c.typeToString(type)}, ${symbol?.name ?? ''})`);
    }
    const members: string[] = [];
    for (const info of c.getIndexInfosOfType(type)) {
      members.push(`[key: ${c.typeToString(info.keyType)}]: ${this.print(info.type, where, depth + 1)};`);
    }
    for (const prop of c.getPropertiesOfType(type)) {
      const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
      const propType = c.getTypeOfSymbol(prop);
      const name = /^[A-Za-z_$][\w$]*$/.test(prop.name) ? prop.name : JSON.stringify(prop.name);
      members.push(`${name}${optional ? '?' : ''}: ${this.print(propType, `${where}.${prop.name}`, depth + 1)};`);
    }
    return members.length === 0 ? '{}' : `{ ${members.join(' ')} }`;
  }
}

interface ProcedureInfo {
  kind: 'query' | 'mutation' | 'subscription';
  input: string;
  output: string;
}
type Tree = { [key: string]: Tree | ProcedureInfo };

function readTree(checker: ts.TypeChecker, printer: Printer, type: ts.Type, path: string): Tree {
  const tree: Tree = {};
  for (const prop of checker.getPropertiesOfType(type)) {
    const value = checker.getTypeOfSymbol(prop);
    const where = path ? `${path}.${prop.name}` : prop.name;
    const def = value.getProperty('_def');
    if (!def) {
      tree[prop.name] = readTree(checker, printer, value, where);
      continue;
    }
    const defType = checker.getTypeOfSymbol(def);
    const kindSymbol = defType.getProperty('type');
    const typesSymbol = defType.getProperty('$types');
    if (!kindSymbol || !typesSymbol) throw new Error(`${where}: not a procedure`);
    const kind = checker.typeToString(checker.getTypeOfSymbol(kindSymbol)).replace(/"/g, '');
    if (kind !== 'query' && kind !== 'mutation' && kind !== 'subscription')
      throw new Error(`${where}: unknown kind ${kind}`);
    const $types = checker.getTypeOfSymbol(typesSymbol);
    const input = $types.getProperty('input');
    const output = $types.getProperty('output');
    if (!input || !output) throw new Error(`${where}: no $types`);
    tree[prop.name] = {
      kind,
      input: printer.print(checker.getTypeOfSymbol(input), `${where} input`),
      output: printer.print(checker.getTypeOfSymbol(output), `${where} output`),
    };
  }
  return tree;
}

function isProcedure(node: Tree | ProcedureInfo): node is ProcedureInfo {
  return typeof (node as ProcedureInfo).kind === 'string' && typeof (node as ProcedureInfo).input === 'string';
}

function printTree(tree: Tree, indent: string): string {
  const lines = Object.entries(tree).map(([name, node]) => {
    if (isProcedure(node)) {
      const generic = {
        query: 'TRPCQueryProcedure',
        mutation: 'TRPCMutationProcedure',
        subscription: 'TRPCSubscriptionProcedure',
      }[node.kind];
      return `${indent}${name}: ${generic}<{ input: ${node.input}; output: ${node.output}; meta: object }>;`;
    }
    return `${indent}${name}: {\n${printTree(node, `${indent}  `)}\n${indent}};`;
  });
  return lines.join('\n');
}

/** The declaration text that replaces src/types.ts in the published package. */
export function generateRouterTypes(): string {
  const probeDir = mkdtempSync(join(packageDir, '.probe-'));
  const probeFile = join(probeDir, 'probe.ts');
  try {
    writeFileSync(probeFile, PROBE);
    const configPath = join(packageDir, 'tsconfig.json');
    const parsed = ts.getParsedCommandLineOfConfigFile(
      configPath,
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (!parsed) throw new Error('cannot read tsconfig.json');
    const program = ts.createProgram([probeFile], { ...parsed.options, noEmit: true });
    const errors = ts.getPreEmitDiagnostics(program, program.getSourceFile(probeFile));
    if (errors.length > 0) {
      throw new Error(
        ts.formatDiagnostics(errors, {
          getCanonicalFileName: (f) => f,
          getCurrentDirectory: () => packageDir,
          getNewLine: () => '\n',
        }),
      );
    }
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(probeFile);
    if (!source) throw new Error('probe not loaded');
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error('probe has no exports');
    const exported = new Map(
      checker.getExportsOfModule(moduleSymbol).map((s) => [s.name, checker.getDeclaredTypeOfSymbol(s)]),
    );
    const get = (name: string): ts.Type => {
      const type = exported.get(name);
      if (!type) throw new Error(`probe: ${name} missing`);
      return type;
    };
    const printer = new Printer(checker);
    const tree = readTree(checker, printer, get('__Record'), '');
    const errorReason = printer.print(get('__ErrorReason'), 'ErrorReason');
    // `error.data.reason` reads as ErrorReason rather than the union spelled out.
    const errorShape = printer.print(get('__ErrorShape'), 'errorShape').split(errorReason).join('ErrorReason');
    const user = printer.print(get('__User'), 'User');
    const session = printer.print(get('__Session'), 'Session');
    const auditEvent = printer.print(get('__AuditEvent'), 'AuditEvent');
    // Name the shared shapes where they recur, so editors show `User` rather than its fields.
    const named = (text: string) =>
      [
        ['User', user],
        ['Session', session],
        ['AuditEvent', auditEvent],
      ].reduce((out, [name, shape]) => out.split(shape as string).join(name as string), text);
    const signInResult = named(printer.print(get('__SignInResult'), 'SignInResult'));

    return `// Generated by packages/client/scripts/router-types.ts from the server's AppRouter. Do not edit.
import type {
  inferRouterInputs,
  inferRouterOutputs,
  TRPCBuiltRouter,
  TRPCMutationProcedure,
  TRPCQueryProcedure,
  TRPCSubscriptionProcedure,
} from '@trpc/server';

export type User = ${user};
export type Session = ${session};
export type AuditEvent = ${auditEvent};

/**
 * The machine-readable reason of every error the server answers (\`error.data.reason\`): branch on
 * it with \`isGatehouseError(err, code, reason)\`, never on the message.
 */
export type ErrorReason = ${errorReason};

/** The shape of every error the server answers (\`TRPCClientError.shape\`). */
export type GatehouseErrorShape = ${errorShape};

/** Gatehouse's API, as the client sees it (architecture §7). */
export type AppRouter = TRPCBuiltRouter<
  { ctx: object; meta: object; errorShape: GatehouseErrorShape; transformer: true },
  {
${named(printTree(tree, '    ')).split(signInResult).join('SignInResult')}
  }
>;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** What signing in (or creating an account) answers (architecture §7). */
export type SignInResult = ${signInResult};
`;
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  const text = generateRouterTypes();
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}
