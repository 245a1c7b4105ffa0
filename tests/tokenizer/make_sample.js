// Writes the tokenizer test inputs into tests/fixtures/tokenizer/ (one text per line, UTF-8):
//   data.txt     5,100 texts drawn evenly from every dataset in /work/shared/data (sst1 sst2 trec
//                subj imdb agnews), IMDB reviews cut to 300 characters to keep the file small;
//   crafted.txt  cases chosen to break a tokenizer: accents and combining marks, CJK, emoji,
//                control, zero-width and space characters, special tokens in the text, words of
//                100 and 101 characters, empty lines;
//   sweep.txt    one word 'a<c>b' per code point c that any step can treat specially (controls,
//                punctuation, marks, spaces, capitals, characters with a canonical decomposition,
//                CJK block edges), so every character class decision is checked once.
// Deterministic: every k-th line of each file. Needs only node (zlib for the .gz files).
//
// usage: node make_sample.js DATA_DIR OUT_DIR
'use strict';
const fs = require('fs'), path = require('path'), zlib = require('zlib');
const [dataDir, outDir] = process.argv.slice(2);
const read = f => {
  const b = fs.readFileSync(path.join(dataDir, f));
  return (f.endsWith('.gz') ? zlib.gunzipSync(b) : b).toString('utf8').split('\n').filter(l => l.length);
};
const take = (f, n, cut) => {
  const lines = read(f), step = Math.max(1, Math.floor(lines.length / n)), out = [];
  for (let i = 0; i < lines.length && out.length < n; i += step) {
    let t = lines[i].slice(lines[i].indexOf('\t') + 1);
    if (cut) t = Array.from(t).slice(0, cut).join('');
    out.push(t);
  }
  return out;
};
const data = [
  ...take('sst1/train.tsv', 700), ...take('sst1/test.tsv', 300), ...take('sst2/dev.tsv', 300), ...take('sst2/train.tsv', 300),
  ...take('trec/train.tsv', 1600), ...take('trec/test.tsv', 500), ...take('subj/train.tsv', 700),
  ...take('agnews/test.tsv', 400), ...take('imdb/train.tsv.gz', 150, 300), ...take('imdb/test.tsv.gz', 150, 300),
];
fs.writeFileSync(path.join(outDir, 'data.txt'), data.join('\n') + '\n');

const crafted = [
  '', '   ', '\t', '\u0001', 'i like strawberries', 'acting actors playing', 'The Quick Brown Fox',
  // accents, combining marks, canonical order
  'café naïve résumé Ångström façade jalapeño Zürich Crème Brûlée', 'CAFÉ NAÏVE', 'cafe\u0301 nai\u0308ve', 'e\u0301\u0302\u0303 o\u0323\u0302',
  'a\u0323\u0308 a\u0308\u0323', 'x\u{1D165}\u0301y \u302E\u0301', 'Tiếng Việt có dấu', 'Straße ß ẞ', 'İstanbul ıi', 'Σίσυφος ΣΊΣΥΦΟΣ ς', 'ǅemal ǈ',
  'مَرْحَبًا بِكُمْ', 'שָׁלוֹם', 'नमस्ते दुनिया', 'สวัสดีครับ', 'Привет, мир! Ёлка', 'Ελληνικά', 'Ωmega ω', 'ﬁne ﬂow ﬃ', '𝐀𝐁𝐂 𝒙𝒚', 'ＡＢＣ１２３ ｱｲｳ',
  // CJK and neighbours
  '我爱北京天安门', 'BERT是一个模型。', 'こんにちは世界', 'カタカナ', '안녕하세요 한국어', '\uF900\uFA0E \u{20000}\u{2A6DF} \u{2F800}',
  '\u4DFF\u4E00\u9FFF\uA000 \u33FF\u3400\u4DBF', '\u{2A6E0}\u{2A700}\u{2B73F}\u{2B740}\u{2B81F}\u{2B820}\u{2B920}\u{2CEAF}\u{2CEB0}',
  // emoji
  'I ❤️ NLP 😀😀 👍🏽 👨‍👩‍👧 🇫🇷 ✔ ☺', 'great movie!!!😂😂😂', '5⃣ #️⃣ ©® ™',
  // control, format, zero-width, replacement, NUL
  'a\u0000b c\u0007d e\u001bf', 'tab\tsep\rcr\u000bvt\u000cff\u0085nel', 'zero\u200Bwidth \u200Cnon\u200Djoin\u2060wj\uFEFFbom',
  'a\uFFFDb \uFFFD', 'soft\u00ADhyphen', 'rtl\u200Fmark\u202Eoverride\u202C', '\u0600\u06DD\u070F \u{110BD} \u{1D173}', '\uE000\uF8FF \u{F0000}',
  // spaces
  'nbsp\u00A0space', 'en\u2002em\u2003thin\u2009hair\u200Aspaces', 'narrow\u202Fnbsp math\u205Fspace', 'ideo\u3000space ogham\u1680mark',
  'line\u2028para\u2029sep', 'mongolian\u180Evowel', '  leading and trailing  ', 'many     spaces',
  // punctuation and symbols
  "don't can't it's 'quoted'", 'hello,world!how?are(you)', 'U.S.A. e.g. i.e.', '$100 + 5% = ~ ^_^ | <tag> `x`', '«quoted» ¿Qué? ¡Hola!',
  '—dash— –en– ‐hyphen', '1,000.50 3.14159 10^6', 'e-mail #hashtag @user http://example.com/a?b=c&d=e', '…ellipsis… ·middot', '§ ¶ † ‡ • ′ ″ ‰',
  '\u166D \u1734 \u{111C9} \u{1171E} \u0890 \u08E2 \u{13430} \u2E44 \u2E52',
  // special tokens written in the text
  '[CLS] hello [SEP] world', '[cls] [sep] [Mask]', 'x[MASK]y', '[UNK] [PAD][PAD]', '[SEP', 'SEP]', '[[CLS]]', '[unused0] [unused1]',
  // long words: 100 characters is a word, 101 is [UNK]
  'a'.repeat(100), 'a'.repeat(101), 'x'.repeat(99) + ' ' + 'x'.repeat(100) + ' ' + 'x'.repeat(101), 'supercalifragilistic'.repeat(5),
  'supercalifragilistic'.repeat(5) + 'x', 'é'.repeat(100), 'é'.repeat(101), 'e\u0301'.repeat(60), '我'.repeat(150),
  'ab' + ','.repeat(120) + 'cd', 'unaffable', 'unbelievably', 'tokenization', 'xyzzyqwv',
];
fs.writeFileSync(path.join(outDir, 'crafted.txt'), crafted.join('\n') + '\n');

const set = new Set();
const special = /^[\p{Cc}\p{Cf}\p{Co}\p{P}\p{M}\p{White_Space}\p{Lu}\p{Lt}]$/u;
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  if (cp === 10 || cp === 0) continue; // a line break cannot sit inside a line; NUL is in crafted.txt
  const c = String.fromCodePoint(cp);
  const pua = (cp >= 0xe000 && cp <= 0xf8ff) || cp >= 0xf0000;
  if (pua && ![0xe000, 0xf8ff, 0xf0000, 0xffffd, 0x100000, 0x10fffd].includes(cp)) continue;
  const hangul = cp >= 0xac00 && cp <= 0xd7a3;
  if (special.test(c) || (c.normalize('NFD') !== c && (!hangul || cp % 97 === 0))) set.add(cp);
}
for (const [a, b] of [[0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f], [0x2b740, 0x2b81f], [0x2b920, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f]])
  for (const cp of [a - 1, a, b, b + 1]) set.add(cp);
const cps = [...set].sort((x, y) => x - y), sweep = [];
for (let i = 0; i < cps.length; i += 64) sweep.push(cps.slice(i, i + 64).map(cp => 'a' + String.fromCodePoint(cp) + 'b').join(' '));
fs.writeFileSync(path.join(outDir, 'sweep.txt'), sweep.join('\n') + '\n');
console.error(`data.txt ${data.length} lines, crafted.txt ${crafted.length}, sweep.txt ${sweep.length} (${cps.length} code points)`);
