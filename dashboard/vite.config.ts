// The dashboard's build: relative asset URLs (the api-server mounts it under /powerfl, behind any base_url),
// written into the provider package so the wheel carries it (pyproject package-data).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "../airflow_provider_powerfl/plugins/dashboard_dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
});
