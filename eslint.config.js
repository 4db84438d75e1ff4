// Typed ESLint for the whole workspace: one process, one TypeScript project service that finds each
// file's own tsconfig.json (`pnpm lint:eslint`). Formatting is Prettier's job, not ESLint's.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', 'test-results/**', 'coverage/**', 'data/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: {
          // The few files no package tsconfig includes: configs and the CLI's bin shim.
          allowDefaultProject: [
            '*.js',
            '*.config.ts',
            'packages/api/vitest.config.ts',
            'packages/db/vitest.config.ts',
            'apps/server/vitest.config.ts',
            'apps/cli/bin/*.js',
          ],
          defaultProject: 'tsconfig.base.json',
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    files: ['apps/dashboard/src/**', 'packages/client/src/react.tsx'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['apps/dashboard/**/*.{ts,tsx}', 'packages/client/**/*.{ts,tsx}'],
    ...reactHooks.configs.flat.recommended,
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // JSX event handlers may be async; a promise elsewhere where void is expected is still an error.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    files: ['apps/cli/**', 'bench/**', '**/*.test.ts', '**/e2e/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Fastify plugins and hooks, Kysely's MigrationProvider and our own async interfaces are
    // async by contract; an implementation that happens not to await is not a smell here.
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Tests: `expect.any()`/`expect.objectContaining()` are typed `any`, `expect(obj.method)` and
    // destructured helpers trip unbound-method, and `rows[0]!` after an asserted length is the
    // clearest way to say "this exists". Source code keeps all three rules.
    files: [
      '**/*.test.ts',
      '**/*.test.tsx',
      '**/*.test-d.ts',
      '**/e2e/**',
      '**/testing.ts',
      'apps/server/src/reliability/**',
    ],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // Plain JavaScript (configs, the bin shim) has no types to check.
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
