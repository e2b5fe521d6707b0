/**
 * Runs inside each engine worker: watches every GPU device the worker creates (onnxruntime-web's, the WGSL
 * decoder's, the image engine's own) and tells the host when one is lost, so the supervisor restarts the worker with
 * fresh devices; answers the supervisor's pings (liveness); and, in workers started with `testHooks` only, obeys the test faults (`hang`, `crash`,
 * `device-lost`: `device.destroy()` on every live device) sent by a diagnostics host. A device our own code destroys
 * (a model unloaded) is not a loss.
 */
import { isFaultMessage, isPing, type EngineReport, type PongMessage } from './supervision-protocol';

let lost = false;

/** Whether a GPU device of this worker has been lost (errors after that are reported as 503 `device_lost`). */
export function deviceLost(): boolean {
  return lost;
}

export function watchEngineWorker(scope: DedicatedWorkerGlobalScope, options: { testHooks?: boolean }): void {
  const live = new Set<GPUDevice>();
  const faulted = new WeakSet<GPUDevice>();
  const report = (message: string) => {
    lost = true;
    scope.postMessage({ hearthEngine: 'device-lost', message } satisfies EngineReport);
  };
  const adapterProto = (globalThis as { GPUAdapter?: { prototype: GPUAdapter } }).GPUAdapter?.prototype;
  if (adapterProto) {
    const requestDevice = adapterProto.requestDevice;
    adapterProto.requestDevice = async function (this: GPUAdapter, descriptor?: GPUDeviceDescriptor) {
      const device = await requestDevice.call(this, descriptor);
      live.add(device);
      void device.lost.then((info) => {
        live.delete(device);
        if (info.reason !== 'destroyed' || faulted.has(device)) report(info.message || 'GPU device lost');
      });
      return device;
    };
  }
  // Liveness: answered from the event loop, so a worker blocked by a stuck job cannot answer.
  scope.addEventListener('message', (event: MessageEvent) => {
    if (isPing(event.data)) scope.postMessage({ hearthPong: event.data.hearthPing } satisfies PongMessage);
  });
  if (!options.testHooks) return;
  scope.addEventListener('message', (event: MessageEvent) => {
    const fault = event.data;
    if (!isFaultMessage(fault)) return;
    if (fault.hearthFault === 'hang') {
      setTimeout(() => {
        const until = Date.now() + (fault.ms ?? 60_000);
        while (Date.now() < until) { /* a stuck engine: nothing else runs in this worker */ }
      });
    } else if (fault.hearthFault === 'crash') {
      setTimeout(() => {
        throw new Error('Test fault: the engine worker crashed');
      });
    } else if (fault.hearthFault === 'device-lost' && live.size) {
      lost = true;
      for (const device of live) {
        faulted.add(device);
        device.destroy();
      }
    }
  });
}
