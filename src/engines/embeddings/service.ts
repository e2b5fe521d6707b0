/**
 * The embeddings engine as a worker runs it: loads models on demand through a file loader (the artifact store in
 * the browser, the file system in Node), keeps one embedder per model, and runs one request at a time so batches
 * never interleave on the device. A model that fails to load or breaks mid-run is dropped so the next request
 * loads it afresh.
 */
import { HearthError, toHearthError } from '../../api/errors';
import type { CatalogEntry } from '../../models/types';
import { OnnxEmbedder, type EmbedderFiles, type Ort } from './onnx-embedder';
import type { EmbeddingsEngine, EmbedRequest, EmbedResult, LoadedModelInfo, OrtDevice } from './types';

export type FileLoader = (entry: CatalogEntry) => Promise<EmbedderFiles>;

export class EmbeddingsService implements EmbeddingsEngine {
  private readonly models = new Map<string, Promise<OnnxEmbedder>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly ort: Ort, private readonly loadFiles: FileLoader, private readonly devices: OrtDevice[]) {}

  async load(entry: CatalogEntry): Promise<LoadedModelInfo> {
    return (await this.embedder(entry)).info;
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    const embedder = await this.embedder(request.entry);
    return this.serially(async () => {
      try {
        return await embedder.embed(request.inputs, request.dimensions);
      } catch (e) {
        const err = toHearthError(e);
        if (!(e instanceof HearthError)) await this.unload(request.entry.id); // device or runtime failure: reload next time
        throw err;
      }
    });
  }

  async loaded(): Promise<LoadedModelInfo[]> {
    const infos: LoadedModelInfo[] = [];
    for (const p of this.models.values()) {
      const m = await p.catch(() => undefined);
      if (m) infos.push(m.info);
    }
    return infos;
  }

  async unload(id: string): Promise<void> {
    const p = this.models.get(id);
    this.models.delete(id);
    const m = await p?.catch(() => undefined);
    await m?.release().catch(() => undefined);
  }

  private embedder(entry: CatalogEntry): Promise<OnnxEmbedder> {
    let p = this.models.get(entry.id);
    if (!p) {
      p = this.loadFiles(entry).then((files) => OnnxEmbedder.create(this.ort, entry, files, this.devices));
      p.catch(() => this.models.delete(entry.id));
      this.models.set(entry.id, p);
    }
    return p;
  }

  private serially<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
