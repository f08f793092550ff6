// The official `openai` Node client against a Quanta test server (fake model, Hermes-style template).
// Usage: node openai-client.cjs <base url ending in /v1>. Exits 1 with a message on the first failed check.
const OpenAI = require('openai').default;

const client = new OpenAI({ baseURL: process.argv[2], apiKey: 'unused', maxRetries: 0 });
// The fake model answers the text between the bytes 0x02 and 0x03 of the prompt.
const say = (text) => `What is the weather? \u0002${text}\u0003`;
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Lyon'] } }, required: ['city'], additionalProperties: false },
  },
}];
const callText = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>';

function check(ok, what, value) {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(value)}`);
}

async function main() {
  // 1. tools, non-streaming: usable tool_calls, and the message goes back into the history as it is.
  const first = await client.chat.completions.create({ model: 'hash-model', temperature: 0, messages: [{ role: 'user', content: say(callText) }], tools });
  const choice = first.choices[0];
  check(choice.finish_reason === 'tool_calls', 'finish_reason', choice);
  const call = choice.message.tool_calls?.[0];
  check(call?.type === 'function' && call.function.name === 'get_weather', 'tool call', choice.message);
  check(JSON.parse(call.function.arguments).city === 'Paris', 'arguments', call.function.arguments);
  const followUp = await client.chat.completions.create({
    model: 'hash-model', temperature: 0, tools,
    messages: [{ role: 'user', content: say('It is sunny.') }, choice.message, { role: 'tool', tool_call_id: call.id, content: '{"sky": "clear"}' }],
  });
  check(typeof followUp.choices[0].message.content === 'string', 'answer after the tool result', followUp.choices[0]);

  // 2. streaming through the SDK's stream helper: its events and the reassembled completion.
  const stream = client.chat.completions.stream({ model: 'hash-model', temperature: 0, messages: [{ role: 'user', content: say('Checking. ' + callText) }], tools });
  const doneArgs = [];
  stream.on('tool_calls.function.arguments.done', (e) => doneArgs.push(e.arguments));
  const final = await stream.finalChatCompletion();
  const streamed = final.choices[0];
  check(streamed.finish_reason === 'tool_calls', 'streamed finish_reason', streamed);
  check(streamed.message.content === 'Checking. ', 'streamed content', streamed.message.content);
  check(streamed.message.tool_calls.length === 1 && JSON.parse(streamed.message.tool_calls[0].function.arguments).city === 'Paris', 'streamed tool_calls', streamed.message);
  check(doneArgs.length === 1 && JSON.parse(doneArgs[0]).city === 'Paris', 'arguments.done events', doneArgs);
  const onlyCall = await client.chat.completions.stream({ model: 'hash-model', temperature: 0, messages: [{ role: 'user', content: say(callText) }], tools }).finalChatCompletion();
  check(onlyCall.choices[0].message.content === null && onlyCall.choices[0].message.tool_calls.length === 1, 'streamed call alone', onlyCall.choices[0]);

  // 3. a named tool_choice: the output is constrained to the function's parameters.
  const named = await client.chat.completions.create({
    model: 'hash-model', temperature: 0, messages: [{ role: 'user', content: 'Weather in Lyon?' }], tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  check(['Paris', 'Lyon'].includes(JSON.parse(named.choices[0].message.tool_calls[0].function.arguments).city), 'named call', named.choices[0].message);

  // 4. response_format json_schema: the content parses and follows the schema.
  const schema = { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, rain: { type: 'boolean' } }, required: ['city', 'rain'], additionalProperties: false };
  const formatted = await client.chat.completions.create({
    model: 'hash-model', temperature: 0, messages: [{ role: 'user', content: 'Report.' }],
    response_format: { type: 'json_schema', json_schema: { name: 'report', schema, strict: true } },
  });
  const report = JSON.parse(formatted.choices[0].message.content);
  check(typeof report.city === 'string' && typeof report.rain === 'boolean' && Object.keys(report).length === 2, 'response_format', report);
  console.log('ok');
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
