/**
 * The image engine's boundary: a normalised generation job in, progress and finished images out (a stream, so
 * progress is live and cancelling stops the denoising loop between steps).
 */
import type { CatalogEntry } from '../../models/types';
import type { StreamingEngine } from '../contract';
import type { LoraSource } from './lora/fetch';

/** Pixels as they cross the worker boundary: RGBA, row-major. */
export interface RgbaImage { width: number; height: number; data: Uint8Array }

/** An input image still encoded (PNG/JPEG bytes from the multipart body); the worker decodes and resizes it. */
export interface EncodedImage { bytes: ArrayBuffer; type: string }

export interface ImageJob {
  entry: CatalogEntry;
  mode: 'text_to_image' | 'image_to_image' | 'control_net';
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  samples: number;
  /** The seed of sample 0 (already resolved: a request's 0 became a random one); sample k uses seed + k. */
  seed: number;
  /** Fractions of the noise schedule (1 = pure noise): sampling runs from `start` down to `end`. */
  schedule: { start: number; end: number };
  init?: EncodedImage;
  control?: { image: EncodedImage; scale: number; start: number; end: number; lowThreshold: number; highThreshold: number };
  output: { type: 'image/png' | 'image/jpeg'; quality?: number };
  /** A LoRA adapter merged into the UNet and text encoders for this job (its access key is used for the download only). */
  lora?: LoraSource;
  /** Run the safety checker on each image: flagged ones come back black with finishReason CONTENT_FILTERED. */
  safetyCheck?: boolean;
}

export type ImageEvent =
  | { type: 'start'; backend: string; steps: number; samples: number }
  | { type: 'progress'; step: number; steps: number; sample: number }
  | { type: 'image'; index: number; seed: number; bytes: ArrayBuffer; mime: string; finishReason: 'SUCCESS' | 'CONTENT_FILTERED' | 'ERROR' }
  | { type: 'done' };

/** A job whose `signal` has aborted while it waited for its turn is dropped before it starts. */
export interface ImageEngine extends StreamingEngine<ImageJob, ImageEvent> {
  /** Canny edges of an image (resized to width × height) as the ControlNet will see them, as a PNG: the UI's preview. */
  cannyPreview(image: EncodedImage, low: number, high: number, width?: number, height?: number): Promise<ArrayBuffer>;
}
