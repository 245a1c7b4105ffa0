// Hugging Face's BERT tokenizer (tokenizers' Rust code through @anush008/tokenizers), set up as
// BertTokenizerFast is for bert-base-uncased / -cased, prints per input line the ids a model receives.
//
//   normalizer     bertNormalizer{cleanText, handleChineseChars, stripAccents, lowercase}
//                  (uncased: all true; --cased: lowercase and stripAccents false)
//   pre-tokenizer  bertPreTokenizer
//   model          WordPiece, unk [UNK], continuing prefix ##, max_input_chars_per_word 100
//   post-processor bertProcessing([SEP], [CLS])
//   added tokens   [PAD] [UNK] [CLS] [SEP] [MASK] as special, non-normalized tokens (as in
//                  tokenizer.json), so written in the text they stand for themselves
//   --max-len L    truncation to L ids, [CLS] and [SEP] included (a pair: longest-first)
//   --pairs        a line with a TAB is the pair (before the first TAB, after it): tokenizer(a, b)
//   --types        print the token type ids instead of the ids
//
// usage: node reference.js VOCAB.txt TEXT.txt [--cased] [--max-len L] [--pairs] [--types] > IDS   (NODE_PATH: see install.sh)
'use strict';
const fs = require('fs');
const t = require('@anush008/tokenizers');
async function main() {
  const args = process.argv.slice(2);
  const [vocab, text] = args;
  const cased = args.includes('--cased');
  const ml = args.indexOf('--max-len');
  const model = await t.WordPiece.fromFile(vocab, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const tok = new t.Tokenizer(model);
  tok.setNormalizer(t.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: !cased, lowercase: !cased }));
  tok.setPreTokenizer(t.bertPreTokenizer());
  const id = s => { const i = tok.tokenToId(s); if (i === null) throw new Error(`${vocab} has no ${s}`); return i; };
  tok.setPostProcessor(t.bertProcessing(['[SEP]', id('[SEP]')], ['[CLS]', id('[CLS]')]));
  tok.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  if (ml >= 0) tok.setTruncation(parseInt(args[ml + 1], 10));
  const lines = fs.readFileSync(text, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const pairs = args.includes('--pairs'), types = args.includes('--types');
  const show = e => (types ? e.getTypeIds() : e.getIds()).join(' ');
  const out = [];
  if (pairs) {
    for (const line of lines) {
      const tab = line.indexOf('\t');
      out.push(show(tab < 0 ? await tok.encode(line) : await tok.encode(line.slice(0, tab), line.slice(tab + 1))));
    }
  } else {
    for (let i = 0; i < lines.length; i += 256) {
      const encs = await tok.encodeBatch(lines.slice(i, i + 256));
      for (const e of encs) out.push(show(e));
    }
  }
  process.stdout.write(out.join('\n') + '\n');
}
main().catch(e => { console.error('reference.js: ' + (e.stack || e)); process.exit(1); });
