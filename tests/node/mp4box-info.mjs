// mp4box-info.mjs FILE [CHUNK]: parses FILE with mp4box.js as a progressive download would
// feed it (CHUNK bytes at a time, default 4096, each an ArrayBuffer with its fileStart),
// extracts every sample of every track, and prints one JSON object:
//   { size, readyAt, error, info: {duration, timescale, isFragmented, brands, tracks: [...]},
//     extracted: {trackId: {count, bytes, firstDts, sync}} }
// readyAt is how many bytes had been fed when onReady fired (for a fast-start MP4, no more
// than the end of the moov box rounded up to a chunk).  The exit status is 0 if onReady
// fired and mp4box.js reported no error.
import { readFileSync } from 'node:fs';
import { createFile, MP4BoxBuffer, Log } from 'mp4box';

const [file, chunkArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: mp4box-info.mjs FILE [CHUNK]');
  process.exit(2);
}
const chunk = Number(chunkArg || 4096);
Log.setLogLevel(Log.error);

const data = readFileSync(file);
const out = { size: data.length, readyAt: null, error: null, info: null, extracted: {} };
const mp4 = createFile();
let fed = 0;

mp4.onError = (module, message) => {
  out.error = out.error || `${module}: ${message}`;
};
mp4.onReady = (info) => {
  out.readyAt = fed;
  out.info = {
    duration: info.duration,
    timescale: info.timescale,
    isFragmented: info.isFragmented,
    isProgressive: info.isProgressive,
    brands: info.brands,
    tracks: info.tracks.map((t) => ({
      id: t.id,
      type: t.type,
      codec: t.codec,
      nb_samples: t.nb_samples,
      duration: t.duration,
      timescale: t.timescale,
      movie_duration: t.movie_duration,
      bitrate: t.bitrate,
    })),
  };
  for (const t of info.tracks) {
    out.extracted[t.id] = { count: 0, bytes: 0, firstDts: null, sync: 0 };
    mp4.setExtractionOptions(t.id, null, { nbSamples: 1000 });
  }
  mp4.start();
};
mp4.onSamples = (id, user, samples) => {
  const e = out.extracted[id];
  for (const s of samples) {
    if (e.firstDts === null) e.firstDts = s.dts;
    e.count += 1;
    e.bytes += s.size;
    if (s.is_sync) e.sync += 1;
  }
  // Let mp4box.js free what has been handed out.
  mp4.releaseUsedSamples(id, samples[samples.length - 1].number + 1);
};

try {
  for (let off = 0; off < data.length; off += chunk) {
    const end = Math.min(off + chunk, data.length);
    const ab = data.buffer.slice(data.byteOffset + off, data.byteOffset + end);
    const buf = MP4BoxBuffer.fromArrayBuffer(ab, off);
    fed = end;
    mp4.appendBuffer(buf, end === data.length);
  }
  mp4.flush();
} catch (e) {
  out.error = out.error || `exception: ${e && e.stack ? e.stack : e}`;
}

console.log(JSON.stringify(out));
process.exit(out.readyAt !== null && !out.error ? 0 : 1);
