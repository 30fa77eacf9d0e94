// Types of the one lz4js function the live test uses (the package ships none).
declare module "lz4js" {
  /** Decompresses one LZ4 frame (the format Kafka uses for LZ4 record batches). */
  export function decompress(src: Uint8Array): Uint8Array;
  /** Compresses into one LZ4 frame. */
  export function compress(src: Uint8Array): Uint8Array;
}
