// Lint rules, including the layering rules of docs/architecture.md: imports point inward only
// (cli → client/server/signer → keystore/storage → tuf → crypto), and the core does no I/O and
// reads no clock. A violation fails `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const IO_MODULES = ['node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:https', 'node:http2',
  'node:child_process', 'node:tls', 'node:dgram', 'node:os', 'node:process', 'fs', 'net', 'http', 'https'];

/** Layers a file in `layer` must not import, expressed as path patterns. */
function forbid(layers, extra = []) {
  return {
    'no-restricted-imports': ['error', {
      paths: extra.map((name) => ({ name, message: 'the pure core does no I/O: inject it' })),
      patterns: layers.map((l) => ({
        group: [`**/${l}/*`, `**/${l}/**`, `../${l}`, `../../${l}`],
        message: `imports point inward only; see docs/architecture.md (${l} is an outer layer here)`,
      })),
    }],
  };
}

const noClock = {
  'no-restricted-syntax': ['error',
    { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'inject the clock' },
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'inject the clock' },
    { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'the core reads no environment' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'src/**/generated/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
      }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  { files: ['src/crypto/**'], rules: { ...forbid(['gate', 'tuf', 'keystore', 'storage', 'client', 'server', 'signer', 'agent', 'cli'], IO_MODULES), ...noClock } },
  { files: ['src/tuf/**'], rules: { ...forbid(['gate', 'keystore', 'storage', 'client', 'server', 'signer', 'agent', 'cli'], IO_MODULES), ...noClock } },
  { files: ['src/keystore/**', 'src/storage/**'], rules: forbid(['gate', 'client', 'server', 'signer', 'agent', 'cli']) },
  { files: ['src/client/**', 'src/signer/**'], rules: forbid(['gate', 'cli', 'server', 'agent']) },
  { files: ['src/server/**'], rules: forbid(['gate', 'cli', 'client', 'keystore', 'agent']) },
  { files: ['src/agent/**'], rules: forbid(['gate', 'cli', 'client', 'server', 'signer', 'storage']) },
  // The gate composes the trust client (verified updates) and the server's auth; nothing imports it but the CLI.
  { files: ['src/gate/**'], rules: forbid(['cli', 'agent', 'keystore', 'signer']) },
  {
    files: ['test/**', 'scripts/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);
