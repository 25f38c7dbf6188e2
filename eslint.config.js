// ESLint 9 flat config: the recommended sets, plus type-aware rules for promises (a promise
// nobody awaits loses its rejection; one passed where a callback is expected is never awaited).
// Formatting is Prettier's business: eslint-config-prettier turns off every rule it would fight.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/',
      '.tsbuild/',
      '**/dist/',
      'coverage/',
      'bench/results/',
      'data/',
      'shared/src/client/openapi.ts',
      'client/src/openapi.ts',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `const { a: _, ...rest } = x` leaves `a` out on purpose; `_` names what is not used.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  prettier,
);
