// node tests/js/speedscope_check.cjs FILE: validates a speedscope file against the schema
// the speedscope npm package ships (dist/release/file-format-schema.json) with ajv, checks
// what the schema cannot (frame indices in range, as many weights as samples, events
// nested and in time order), and prints one line per profile:
//   evented NAME UNIT EVENTS START END
//   sampled NAME UNIT SAMPLES START END
// then, for each sampled profile, its stacks as `render collapsed` writes them:
//   NAME;FUNC (FILE:LINE);... WEIGHT
// Exit 1, with the reasons on stderr, when the file does not validate.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const schemaPath = path.join(path.dirname(require.resolve('speedscope/package.json')),
  'dist', 'release', 'file-format-schema.json');
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
const doc = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fail = (msg) => { process.stderr.write(msg + '\n'); process.exit(1); };
if (!validate(doc)) fail('schema: ' + JSON.stringify(validate.errors.slice(0, 5)));
const frames = doc.shared.frames;
const esc = (s) => s.replace(/[;\\\x00-\x1f\x7f]/g,
  (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
const frameText = (i) => {
  if (!(i >= 0 && i < frames.length)) fail('frame index out of range: ' + i);
  const f = frames[i];
  return esc(f.name) + ' (' + esc(f.file) + ':' + (f.line || 0) + ')';
};
const out = [], folded = [];
for (const p of doc.profiles) {
  if (p.type === 'evented') {
    const open = [];
    let at = -Infinity;
    for (const e of p.events) {
      frameText(e.frame);
      if (e.at < at) fail(p.name + ': event back in time at ' + e.at);
      at = e.at;
      if (e.type === 'O') open.push(e.frame);
      else if (open.pop() !== e.frame) fail(p.name + ': close of a frame not open last');
    }
    if (open.length) fail(p.name + ': ' + open.length + ' frames never closed');
    out.push(['evented', p.name, p.unit, p.events.length, p.startValue, p.endValue].join(' '));
  } else {
    if (p.samples.length !== p.weights.length) fail(p.name + ': samples and weights differ');
    const base = p.name.replace(/ \(memory gained\)$/, '');
    p.samples.forEach((s, i) => folded.push(
      [esc(base)].concat(s.map(frameText)).join(';') + ' ' + p.weights[i]));
    out.push(['sampled', p.name, p.unit, p.samples.length, p.startValue, p.endValue].join(' '));
  }
}
process.stdout.write(out.concat(folded).join('\n') + '\n');
