export const sdkVersion: string = '0.1.0';
