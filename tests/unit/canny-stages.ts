// Test-only access to the WebGPU Canny detector's stages (src/engines/image/canny/): a detector that reads back
// every intermediate of a run (`debugStages`) or runs one kernel on given inputs (`runStage`), so tests/unit/canny.test.ts
// can compare each stage with the CPU Canny (src/engines/image/canny-cpu.ts). Production code never needs these.
import { CannyDetector, cannyParams, type CannyOptions } from '../../src/engines/image/canny';
import { Usage } from '../../src/engines/image/canny/params';
import type { CannyReferenceStages } from '../../src/engines/image/canny-cpu';

/** Every intermediate of one run (see `CannyStageDetector.debugStages`): the CPU reference's stages, and the dispatch count. */
export interface CannyStages extends CannyReferenceStages {
  /** How many hysteresis dispatches ran: always HYSTERESIS_DISPATCHES (4), whatever the image. */
  hysteresisPasses: number;
}

/** Inputs of each kernel when it is run on its own (`CannyStageDetector.runStage`). */
export interface CannyStageInputs {
  grayscale: { rgba: Uint8Array | Uint8ClampedArray };
  gaussian: { gray: Float32Array };
  sobel: { blur: Float32Array };
  nms: { magnitudeSq: Uint32Array; direction: Uint8Array };
  threshold: { nms: Uint32Array };
  hysteresis: { threshold: Uint8Array };
  output: { hysteresis: Uint8Array };
}
/** Outputs of each kernel when it is run on its own. */
export interface CannyStageOutputs {
  grayscale: { gray: Float32Array };
  gaussian: { blur: Float32Array };
  sobel: { magnitude: Float32Array; magnitudeSq: Uint32Array; direction: Uint8Array };
  nms: { nms: Uint32Array };
  threshold: { threshold: Uint8Array };
  hysteresis: { hysteresis: Uint8Array; hysteresisPasses: number };
  output: { edges: Uint8Array; chw: Float32Array };
}
export type CannyStageName = keyof CannyStageInputs;

/** A CannyDetector with the stage read-backs the tests need. */
export class CannyStageDetector extends CannyDetector {
  static override async create(device: GPUDevice, shaders?: Partial<Record<string, string>>): Promise<CannyStageDetector> {
    return (await super.create(device, shaders)) as CannyStageDetector;
  }

  /** Runs the whole pipeline and reads back every intermediate. */
  debugStages(
    rgba: Uint8Array | Uint8ClampedArray,
    width: number,
    height: number,
    options: CannyOptions = {},
  ): Promise<CannyStages> {
    return this.exclusive(async () => {
      const params = cannyParams(options);
      const r = this.prepare(width, height, options);
      this.upload(r.rgba, this.checkRgba(rgba, width, height));
      // Stop before hysteresis to read the thresholded labels, then finish.
      await this.runPipeline(r, false);
      const [threshold] = await this.readBack(this.device.createCommandEncoder(), [r.labels]);
      const hysteresisPasses = this.runHysteresis(r, this.device.createCommandEncoder());
      const chwBuffer = this.device.createBuffer({
        size: 3 * width * height * 4,
        usage: Usage.STORAGE | Usage.COPY_SRC,
      });
      try {
        const encoder = this.device.createCommandEncoder();
        this.encode(encoder, r, this.pipelines.toRgba, r.groups.toRgba);
        this.encode(encoder, r, this.pipelines.toChw, this.chwGroup(r, chwBuffer));
        const [gray, blur, magnitude, magnitudeSq, direction, nms, hysteresis, edges, chw] = await this.readBack(
          encoder,
          [r.gray, r.blur, r.magnitude, r.magnitudeSq, r.direction, r.nms, r.labels, r.rgbaOut, chwBuffer],
        );
        return {
          ...params,
          width,
          height,
          gray: new Float32Array(gray!),
          blur: new Float32Array(blur!),
          magnitude: new Float32Array(magnitude!),
          magnitudeSq: new Uint32Array(magnitudeSq!),
          direction: Uint8Array.from(new Uint32Array(direction!)),
          nms: new Uint32Array(nms!),
          threshold: Uint8Array.from(new Uint32Array(threshold!)),
          hysteresis: Uint8Array.from(new Uint32Array(hysteresis!)),
          edges: new Uint8Array(edges!),
          chw: new Float32Array(chw!),
          hysteresisPasses,
        };
      } finally {
        chwBuffer.destroy();
      }
    });
  }

  /** Runs one kernel on the given inputs (e.g. the CPU reference's previous stage) and reads its output. */
  runStage<S extends CannyStageName>(
    stage: S,
    width: number,
    height: number,
    inputs: CannyStageInputs[S],
    options: CannyOptions = {},
  ): Promise<CannyStageOutputs[S]> {
    return this.exclusive(async () => {
      const r = this.prepare(width, height, options);
      const n = width * height;
      const need = <T extends ArrayLike<number>>(name: string, a: T | undefined): T => {
        if (!a || a.length !== n) throw new Error(`canny: runStage(${stage}) needs ${name} of length ${n}`);
        return a;
      };
      const u32 = (a: ArrayLike<number>) => Uint32Array.from(a);
      const encoder = this.device.createCommandEncoder({ label: `canny/stage/${stage}` });
      const p = this.pipelines;
      const g = r.groups;
      let result: unknown;
      switch (stage) {
        case 'grayscale': {
          const i = inputs as CannyStageInputs['grayscale'];
          this.upload(r.rgba, this.checkRgba(i.rgba, width, height));
          this.encode(encoder, r, p.grayscale, g.grayscale);
          const [gray] = await this.readBack(encoder, [r.gray]);
          result = { gray: new Float32Array(gray!) };
          break;
        }
        case 'gaussian': {
          this.upload(r.gray, need('gray', (inputs as CannyStageInputs['gaussian']).gray));
          this.encode(encoder, r, p.blurH, g.blurH);
          this.encode(encoder, r, p.blurV, g.blurV);
          const [blur] = await this.readBack(encoder, [r.blur]);
          result = { blur: new Float32Array(blur!) };
          break;
        }
        case 'sobel': {
          this.upload(r.blur, need('blur', (inputs as CannyStageInputs['sobel']).blur));
          this.encode(encoder, r, p.sobel, g.sobel);
          const [m, m2, d] = await this.readBack(encoder, [r.magnitude, r.magnitudeSq, r.direction]);
          result = {
            magnitude: new Float32Array(m!),
            magnitudeSq: new Uint32Array(m2!),
            direction: Uint8Array.from(new Uint32Array(d!)),
          };
          break;
        }
        case 'nms': {
          const i = inputs as CannyStageInputs['nms'];
          this.upload(r.magnitudeSq, need('magnitudeSq', i.magnitudeSq));
          this.upload(r.direction, u32(need('direction', i.direction)));
          this.encode(encoder, r, p.nms, g.nms);
          const [nms] = await this.readBack(encoder, [r.nms]);
          result = { nms: new Uint32Array(nms!) };
          break;
        }
        case 'threshold': {
          this.upload(r.nms, need('nms', (inputs as CannyStageInputs['threshold']).nms));
          this.encode(encoder, r, p.threshold, g.threshold);
          const [labels] = await this.readBack(encoder, [r.labels]);
          result = { threshold: Uint8Array.from(new Uint32Array(labels!)) };
          break;
        }
        case 'hysteresis': {
          this.upload(r.labels, u32(need('threshold', (inputs as CannyStageInputs['hysteresis']).threshold)));
          const hysteresisPasses = this.runHysteresis(r, encoder);
          const [labels] = await this.readBack(this.device.createCommandEncoder(), [r.labels]);
          result = { hysteresis: Uint8Array.from(new Uint32Array(labels!)), hysteresisPasses };
          break;
        }
        case 'output': {
          this.upload(r.labels, u32(need('hysteresis', (inputs as CannyStageInputs['output']).hysteresis)));
          const chwBuffer = this.device.createBuffer({ size: 3 * n * 4, usage: Usage.STORAGE | Usage.COPY_SRC });
          try {
            this.encode(encoder, r, p.toRgba, g.toRgba);
            this.encode(encoder, r, p.toChw, this.chwGroup(r, chwBuffer));
            const [edges, chw] = await this.readBack(encoder, [r.rgbaOut, chwBuffer]);
            result = { edges: new Uint8Array(edges!), chw: new Float32Array(chw!) };
          } finally {
            chwBuffer.destroy();
          }
          break;
        }
        default:
          throw new Error(`canny: unknown stage ${String(stage)}`);
      }
      return result as CannyStageOutputs[S];
    });
  }
}
