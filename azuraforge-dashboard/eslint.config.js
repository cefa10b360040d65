import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist", "node_modules", "test-output"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // `const { dropped, ...rest } = object` removes a key without mutation; `_arg` types an unused parameter.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true, argsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["e2e/**/*.mjs", "*.js"],
    extends: [js.configs.recommended],
    // The e2e runs in node and hands functions to the page, which run in the browser.
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
