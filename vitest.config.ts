import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // root suites share the kernel's namespace list; run files one by one
    fileParallelism: false,
  },
});
