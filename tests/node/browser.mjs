// The browser test: two headless Chromium pages sign in to an example app, join presence-chat, chat with
// each other and receive an encrypted notice. Prints one JSON line with what the pages show; writes a
// screenshot. Usage: node browser.mjs <app base URL> <screenshot path>
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
const errors = [];
const timeout = 15000;
try {
  const user = async (name) => {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
    await page.goto(base);
    await page.fill('#name', name);
    await Promise.all([page.waitForNavigation(), page.click('#login button')]);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout });
    return page;
  };
  const alice = await user('alice');
  const bob = await user('bob');
  await alice.waitForFunction(() => document.getElementById('count').textContent === '2', null, { timeout });
  await bob.waitForFunction(() => document.getElementById('count').textContent === '2', null, { timeout });
  await bob.fill('#text', 'hello from bob');
  await bob.press('#text', 'Enter');
  await alice.waitForFunction(
    () => window.chat.received.some((m) => m.user === 'bob' && m.text === 'hello from bob'), null, { timeout });
  await alice.fill('#text', 'hi bob');
  await alice.press('#text', 'Enter');
  await bob.waitForFunction(
    () => window.chat.received.some((m) => m.user === 'alice' && m.text === 'hi bob'), null, { timeout });
  // The 50 KB message: sent chunked by the app, reassembled by the page's bindWithChunking.
  await bob.click('#big-btn');
  await alice.waitForFunction(
    () => window.chat.received.some((m) => m.user === 'bob' && m.text.length >= 50000), null, { timeout });
  const big = await alice.evaluate(() => {
    const m = window.chat.received.find((r) => r.user === 'bob' && r.text.length >= 50000);
    const shown = [...document.querySelectorAll('#messages li')].map((li) => li.textContent).find((t) => t.includes(' KB] '));
    return { bytes: new TextEncoder().encode(m.text).length, start: m.text.slice(0, 40), shown: shown || null };
  });
  await alice.click('#notice-btn');
  await alice.waitForFunction(() => window.chat.notices.length > 0, null, { timeout });
  await alice.waitForFunction(() => document.querySelectorAll('#webhooks li').length > 0, null, { timeout });
  await alice.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({
    ok: true,
    members: await alice.$$eval('#members li', (els) => els.map((e) => e.textContent)),
    alice_messages: await alice.evaluate(() => window.chat.received),
    bob_messages: await bob.evaluate(() => window.chat.received),
    big,
    notice: await alice.textContent('#notice'),
    personal: await alice.textContent('#personal'),
    webhooks: await alice.$$eval('#webhooks li', (els) => els.map((e) => e.textContent)),
    errors,
  }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e), errors }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
