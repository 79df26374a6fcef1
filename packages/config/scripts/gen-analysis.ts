// Writes docs/analysis.md from the analysis code catalog (pnpm gen:analysis).
import { writeFileSync } from 'node:fs';
import { renderAnalysisDoc } from '../src/analysis.js';

writeFileSync(new URL('../../../docs/analysis.md', import.meta.url), renderAnalysisDoc());
