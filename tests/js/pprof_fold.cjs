// node tests/js/pprof_fold.cjs FILE: decodes a gzip-compressed pprof profile with the
// independent `pprof-format` package (npm; tools/npmdeps.sh installs it) and prints
//   types TYPE/UNIT TYPE/UNIT ...
//   period N TYPE/UNIT, time N, duration N
// then one line per sample, frames outermost first as `render collapsed` writes them:
//   THREAD;FUNC (FILE:LINE);... VALUE VALUE ... pid=N
// ';', '\' and control characters in names are written as \xHH, as collapsed does.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

const p = Profile.decode(zlib.gunzipSync(fs.readFileSync(process.argv[2])));
const st = p.stringTable.strings;
const esc = (s) => s.replace(/[;\\\x00-\x1f\x7f]/g,
  (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
const fns = new Map(p.function.map((f) => [Number(f.id), f]));
const locs = new Map(p.location.map((l) => [Number(l.id), l]));
const out = [];
out.push('types ' + p.sampleType.map((v) => st[v.type] + '/' + st[v.unit]).join(' '));
out.push('period ' + Number(p.period) + ' ' +
  (p.periodType ? st[p.periodType.type] + '/' + st[p.periodType.unit] : '-') +
  ', time ' + Number(p.timeNanos) + ', duration ' + Number(p.durationNanos));
for (const s of p.sample) {
  let thread = '?', pid = 0;
  for (const l of s.label) {
    if (st[l.key] === 'thread') thread = st[l.str];
    if (st[l.key] === 'pid') pid = Number(l.num);
  }
  const frames = s.locationId.map(Number).reverse().map((id) => {
    const loc = locs.get(id);
    if (!loc || loc.line.length !== 1) throw new Error('location ' + id);
    const f = fns.get(Number(loc.line[0].functionId));
    if (!f) throw new Error('function of location ' + id);
    return esc(st[f.name]) + ' (' + esc(st[f.filename]) + ':' + Number(loc.line[0].line) + ')';
  });
  out.push([esc(thread)].concat(frames).join(';') + ' ' +
    s.value.map(Number).join(' ') + ' pid=' + pid);
}
process.stdout.write(out.join('\n') + '\n');
