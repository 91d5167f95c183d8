// The Control UI probe of `cargo xtask demo` (app openclaw): headless Chromium (Debian's,
// driven by playwright-core from the Node tools) opens the Control UI with the token in
// the URL fragment (never sent over HTTP), waits until it is connected, types a chat
// message and waits for the demo model's answer. Prints `UI-CHAT-OK <answer>` on success.
// Environment: TOOLS, CHROMIUM, UI_URL, UI_TOKEN, UI_PROFILE, UI_MESSAGE, UI_EXPECT.
import { createRequire } from 'module';
const require = createRequire(process.env.TOOLS + '/node_modules/');
const { chromium } = require('playwright-core');

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.log(`missing ${k}`); process.exit(2); }
  return v;
};
const [url, token, message, expect] = ['UI_URL', 'UI_TOKEN', 'UI_MESSAGE', 'UI_EXPECT'].map(env);
const browser = await chromium.launchPersistentContext(env('UI_PROFILE'), {
  executablePath: env('CHROMIUM'), headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const text = async (page) => (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, ' ');
let result = 1;
try {
  const page = await browser.newPage();
  await page.goto(url + 'chat#token=' + encodeURIComponent(token));
  // Connected: the chat composer is enabled (the UI keeps it disabled while disconnected).
  const composer = page.locator('textarea[aria-label="Chat composer"]');
  let connected = false;
  for (let i = 0; i < 60 && !connected; i++) {
    await page.waitForTimeout(2000);
    const body = await text(page);
    if (/pairing required/i.test(body)) { console.log('UI-PAIRING-REQUIRED: ' + body.slice(0, 400)); break; }
    connected = (await composer.count()) > 0 && (await composer.isEnabled());
  }
  if (!connected) {
    console.log('UI-NOT-CONNECTED: ' + (await text(page)).slice(0, 800));
  } else {
    console.log('UI-CONNECTED');
    await composer.fill(message);
    await composer.press('Enter');
    let answer = '';
    // The real gateway runs a whole agent turn (tens of seconds on a loaded machine).
    for (let i = 0; i < 180 && !answer; i++) {
      await page.waitForTimeout(1000);
      const body = await text(page);
      const at = body.indexOf(expect, body.indexOf(message) + message.length);
      if (body.includes(message) && at >= 0) answer = body.slice(at, at + 160);
    }
    if (answer) { console.log('UI-CHAT-OK ' + answer); result = 0; }
    else console.log('UI-NO-ANSWER: ' + (await text(page)).slice(-800));
  }
} finally {
  await browser.close();
}
process.exit(result);
