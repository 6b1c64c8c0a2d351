// The app's words: zh-CN by default, English with ?lang=en (remembered on the phone).
const KEY = 'wangge-lang';
let lang = 'zh';
let words = { text: {}, kinds: {}, categories: {} };

export function chooseLang() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked) localStorage.setItem(KEY, asked.toLowerCase().startsWith('en') ? 'en' : 'zh');
  lang = localStorage.getItem(KEY) === 'en' ? 'en' : 'zh';
  return lang;
}

export const currentLang = () => lang;

export async function loadWords() {
  const r = await fetch(`/app/locales/${lang}.json`);
  words = await r.json();
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll('[data-t-label]')) el.setAttribute('aria-label', t(el.dataset.tLabel));
}

export function setLang(next) {
  localStorage.setItem(KEY, next);
  location.reload();
}

export const t = (key) => words.text[key] ?? key;
export const kindLabel = (kind) => words.kinds[kind] ?? kind;
export const kinds = () => Object.keys(words.categories);
export const categoriesOf = (kind) => words.categories[kind] ?? {};
export const categoryLabel = (kind, category) => categoriesOf(kind)[category] ?? category;
export const actionLabel = (action) => words.text[`act_${action}`] ?? action;
export const stageLabel = (stage) => words.text[`stage_${stage}`] ?? stage;

export function distance(metres) {
  if (metres == null) return '';
  return metres < 1000 ? `${Math.round(metres)} ${t('metres')}` : `${(metres / 1000).toFixed(1)} ${t('km')}`;
}

export function when(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN', { dateStyle: 'short', timeStyle: 'short' });
}
