// Writes docs/analysis.md from the analysis code catalog (pnpm gen:analysis).
import { writeFileSync } from 'node:fs';
import { renderAnalysisDoc } from '@mesh/config';

writeFileSync(new URL('../../../docs/analysis.md', import.meta.url), renderAnalysisDoc());
