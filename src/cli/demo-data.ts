import type { EntityFields, RepositoryEntity } from '../domain/types.js';

export { seededRandom } from '../core/random.js';

/** SDK telemetry events, as an app's analytics layer would record them. */
export interface TelemetryEvent extends RepositoryEntity {
  event: string;
  sdkVersion: string;
  platform: string;
  sessionId: string;
  durationMs: number;
  occurredAt: string;
  attributes: { modelId: string; device: string; success: boolean };
}

/** What the app knows about an on-device model. (`modelVersion`: `version` is the record's sync version.) */
export interface ModelInfo extends RepositoryEntity {
  name: string;
  family: string;
  modelVersion: string;
  parameters: number;
  quantization: string;
  format: string;
  sizeBytes: number;
  sha256: string;
  capabilities: string[];
}

/** A remotely managed setting. */
export interface Configuration extends RepositoryEntity {
  scope: string;
  key: string;
  value: string | number | boolean;
  revision: number;
  updatedBy: string;
}

export const DEMO_TYPES = ['telemetry', 'model-info', 'configuration'] as const;
export type DemoType = (typeof DEMO_TYPES)[number];

const EVENTS = [
  'sdk.init',
  'model.load',
  'model.unload',
  'inference.start',
  'inference.complete',
  'cache.hit',
];
const PLATFORMS = ['ios', 'android', 'web', 'node'];
const DEVICES = ['iPhone15,2', 'Pixel 8', 'SM-S918B', 'MacBookPro18,3', 'x86_64-linux'];
const FAMILIES: readonly [string, string, number][] = [
  ['whisper', 'transcribe', 244e6],
  ['llama', 'generate', 1.1e9],
  ['phi', 'generate', 2.7e9],
  ['clip', 'embed', 151e6],
  ['yolo', 'detect', 25e6],
];
const QUANTIZATIONS = ['fp16', 'int8', 'q4_k_m'];
const FORMATS = ['onnx', 'gguf', 'coreml', 'tflite'];
const SETTINGS: readonly [string, () => string | number | boolean][] = [
  ['inference.maxTokens', () => 256],
  ['inference.temperature', () => 0.7],
  ['telemetry.enabled', () => true],
  ['cache.maxBytes', () => 536_870_912],
  ['model.preferredFormat', () => 'coreml'],
  ['network.wifiOnly', () => false],
];

const pick = <T>(random: () => number, values: readonly T[]): T =>
  values[Math.floor(random() * values.length)] as T;
const hex = (random: () => number, length: number): string =>
  Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');
const pad = (i: number) => String(i).padStart(6, '0');
const ID_PREFIX: Record<DemoType, string> = { telemetry: 'tel', 'model-info': 'model', configuration: 'cfg' };

/** The id of record number `n` of `type`: `cfg-000042`. */
export function demoId(type: DemoType, n: number): string {
  return `${ID_PREFIX[type]}-${pad(n)}`;
}

function telemetry(random: () => number, i: number, start: number): EntityFields<TelemetryEvent> {
  return {
    id: demoId('telemetry', i),
    event: pick(random, EVENTS),
    sdkVersion: `2.${Math.floor(random() * 4)}.${Math.floor(random() * 10)}`,
    platform: pick(random, PLATFORMS),
    sessionId: `ses-${hex(random, 12)}`,
    durationMs: Math.round(random() * 900) + 5,
    occurredAt: new Date(start - Math.floor(random() * 86_400_000)).toISOString(),
    attributes: {
      modelId: `model-${pad(Math.floor(random() * 50))}`,
      device: pick(random, DEVICES),
      success: random() > 0.04,
    },
  };
}

function modelInfo(random: () => number, i: number): EntityFields<ModelInfo> {
  const [family, capability, parameters] = pick(random, FAMILIES);
  const quantization = pick(random, QUANTIZATIONS);
  const bytesPerParameter = quantization === 'fp16' ? 2 : quantization === 'int8' ? 1 : 0.56;
  return {
    id: demoId('model-info', i),
    name: `${family}-${pad(i)}`,
    family,
    modelVersion: `${1 + Math.floor(random() * 3)}.${Math.floor(random() * 10)}.0`,
    parameters,
    quantization,
    format: pick(random, FORMATS),
    sizeBytes: Math.round(parameters * bytesPerParameter),
    sha256: hex(random, 64),
    capabilities: [capability, ...(random() > 0.5 ? ['streaming'] : [])],
  };
}

function configuration(random: () => number, i: number): EntityFields<Configuration> {
  const [key, value] = pick(random, SETTINGS);
  return {
    id: demoId('configuration', i),
    scope: pick(random, ['app', 'device', 'user']),
    key,
    value: value(),
    revision: 1,
    updatedBy: pick(random, ['console', 'sdk', 'policy']),
  };
}

/** Splits `total` records over the demo's types as evenly as possible (earlier types get the remainder). */
export function splitCounts(total: number): Record<DemoType, number> {
  const base = Math.floor(total / DEMO_TYPES.length);
  const extra = total % DEMO_TYPES.length;
  const counts = {} as Record<DemoType, number>;
  DEMO_TYPES.forEach((type, index) => {
    counts[type] = base + (index < extra ? 1 : 0);
  });
  return counts;
}

/**
 * `count` realistic records of `type`, the same for the same seed, numbered from `first` (two clients creating
 * records take separate ranges, so their ids never collide).
 */
export function demoRecords(
  type: DemoType,
  count: number,
  random: () => number,
  now = Date.now(),
  first = 1,
): EntityFields<RepositoryEntity>[] {
  const make = {
    telemetry: (i: number) => telemetry(random, i, now),
    'model-info': (i: number) => modelInfo(random, i),
    configuration: (i: number) => configuration(random, i),
  }[type];
  return Array.from({ length: count }, (_, i) => make(first + i) as EntityFields<RepositoryEntity>);
}

/** The edit a user makes to a setting: a new value and the next revision, signed by who made it. */
export function editConfiguration(record: Configuration, editor: string): Configuration {
  const value =
    typeof record.value === 'number'
      ? record.value * 2
      : typeof record.value === 'boolean'
        ? !record.value
        : `${record.value}-edited`;
  return { ...record, value, revision: record.revision + 1, updatedBy: editor };
}
