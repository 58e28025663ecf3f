// One sound setting for every video: muted until the viewer turns the sound on (browsers
// refuse to autoplay with sound before a tap).

type Listener = (muted: boolean) => void;
const listeners = new Set<Listener>();
let muted = true;

export const sound = {
  get muted(): boolean {
    return muted;
  },
  set(value: boolean): void {
    muted = value;
    listeners.forEach((fn) => fn(muted));
  },
  toggle(): void {
    this.set(!muted);
  },
  subscribe(fn: Listener): () => void {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};
