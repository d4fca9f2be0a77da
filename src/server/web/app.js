// The chat page's logic: keeps the conversation, streams replies from /v1/chat/completions (server-sent
// events), shows reasoning apart, stops a generation with an AbortController. Model text only ever becomes
// text nodes (textContent / append), never HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const conversation = [];  // {role, content} as sent back to the server (reasoning is not sent back)
let controller = null;    // the AbortController of the running request, if any
let epoch = 0;            // bumped by Clear, so a request still finishing does not write into the new conversation

function setState(state, text) {
  document.body.dataset.state = state;
  $('status').textContent = text;
  const busy = state === 'generating';
  $('send').disabled = busy;
  $('stop').disabled = !busy;
}

// Keeps the conversation scrolled to its end while the reader is there, so a reader who scrolled up is not
// pulled down. The position is read once per frame-sized interval, not per streamed piece: reading
// scrollHeight forces a layout of the whole log, and a fast model streams thousands of pieces a second.
let stickToEnd = true, followTimer = null;
function follow(change) {
  change();
  if (followTimer) return;
  followTimer = setTimeout(() => {
    followTimer = null;
    const log = $('log');
    if (stickToEnd) log.scrollTop = log.scrollHeight;
  }, 30);
}

function addMessage(role, text) {
  const box = document.createElement('article');
  box.className = `msg ${role}`;
  const who = document.createElement('h2');
  who.textContent = role === 'user' ? 'You' : 'Assistant';
  const body = document.createElement('div');
  body.className = 'content';
  body.textContent = text;
  box.append(who, body);
  follow(() => $('log').append(box));
  return box;
}

// The collapsible reasoning block of an assistant message, made on its first reasoning delta.
function reasoningText(box) {
  let details = box.querySelector('details.reasoning');
  if (!details) {
    details = document.createElement('details');
    details.className = 'reasoning';
    const summary = document.createElement('summary');
    summary.textContent = 'Reasoning';
    const text = document.createElement('div');
    text.className = 'reasoning-text';
    details.append(summary, text);
    box.insertBefore(details, box.querySelector('.content'));
  }
  return details.querySelector('.reasoning-text');
}

// The request body: system prompt, conversation, and the settings that are filled in (empty = server default).
function requestBody() {
  const messages = [];
  const system = $('system').value.trim();
  if (system) messages.push({ role: 'system', content: system });
  messages.push(...conversation);
  const body = { messages, stream: true };
  const settings = { temperature: parseFloat, top_p: parseFloat, top_k: parseInt, max_tokens: parseInt };
  for (const [key, parse] of Object.entries(settings)) {
    const text = $(key).value.trim();
    if (text === '') continue;
    const value = parse(text);
    if (!Number.isFinite(value)) throw new Error(`the setting ${key} is not a number`);
    body[key] = value;
  }
  return body;
}

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = $('apikey').value;
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function errorText(res) {
  try {
    const j = await res.json();
    if (j.error && j.error.message) return `${res.status}: ${j.error.message}`;
  } catch { /* not JSON: fall through */ }
  return `HTTP ${res.status}`;
}

// The JSON payloads of a server-sent event stream, until `data: [DONE]` or the end of the body.
async function* sseEvents(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        yield JSON.parse(data);
      }
    }
  }
}

function summary(finish, timings) {
  const why = finish === 'length' ? 'Stopped at the token limit' : 'Done';
  if (!timings) return `${why}.`;
  const rate = timings.predicted_per_second ? `, ${timings.predicted_per_second.toFixed(1)} tokens/s` : '';
  return `${why}: ${timings.predicted_n} tokens${rate}.`;
}

async function send() {
  const text = $('input').value.trim();
  if (!text || controller) return;
  let body;
  conversation.push({ role: 'user', content: text });
  try {
    body = JSON.stringify(requestBody());
  } catch (e) {
    conversation.pop();
    setState('idle', `Error: ${e.message}`);
    return;
  }
  $('input').value = '';
  const userBox = addMessage('user', text);
  const box = addMessage('assistant', '');
  const content = box.querySelector('.content');
  const contentText = document.createTextNode('');
  content.append(contentText);
  let reply = '';
  const started = epoch;
  controller = new AbortController();
  setState('generating', 'Generating…');
  try {
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), body, signal: controller.signal });
    if (!res.ok) throw new Error(await errorText(res));
    let finish = null, timings = null;
    for await (const chunk of sseEvents(res)) {
      if (chunk.error) throw new Error(chunk.error.message);
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) continue;
      const delta = choice.delta || {};
      follow(() => {
        if (delta.reasoning_content) reasoningText(box).append(delta.reasoning_content);
        if (delta.content) contentText.appendData(delta.content);  // one text node: no node per piece
      });
      if (delta.content) reply += delta.content;
      if (choice.finish_reason) [finish, timings] = [choice.finish_reason, chunk.timings];
    }
    setState('idle', summary(finish, timings));
  } catch (e) {
    if (e.name === 'AbortError') {
      setState('idle', 'Stopped.');
    } else {
      const err = document.createElement('p');
      err.className = 'error';
      err.textContent = e.message;
      box.append(err);
      setState('idle', `Error: ${e.message}`);
    }
  } finally {
    controller = null;
  }
  if (started !== epoch) return;
  // A turn with no reply is dropped, so the next request does not carry two user messages in a row.
  if (reply) {
    conversation.push({ role: 'assistant', content: reply });
  } else {
    conversation.pop();
    userBox.classList.add('failed');
    box.classList.add('failed');
  }
}

function stop() {
  if (controller) controller.abort();
}

function clearConversation() {
  stop();
  epoch++;
  conversation.length = 0;
  $('log').replaceChildren();
  setState('idle', '');
  $('input').focus();
}

async function showModel() {
  try {
    const res = await fetch('/v1/models', { headers: headers() });
    if (res.ok) $('model').textContent = (await res.json()).data[0].id;
  } catch { /* the name is decoration only */ }
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  } else if (e.key === 'Escape') {
    stop();
  }
});
$('stop').addEventListener('click', stop);
$('log').addEventListener('scroll', () => {
  const log = $('log');
  stickToEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
});
$('clear').addEventListener('click', clearConversation);
showModel();
$('input').focus();
