/**
 * The gRPC service of lispwg.proto, loaded at run time (@grpc/proto-loader; the .proto file stays
 * in src/grpc and is found from the project root whether this runs from src/ or dist/), and the
 * TypeScript shapes of its messages as proto-loader hands them out (camelCase fields, uint64 as
 * number, bytes as Buffer, defaults filled in).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { projectRoot } from '../util/project.js';

export interface EidPrefixMsg {
  instanceId: number;
  address: string;
  maskLen: number;
}

export interface LocatorMsg {
  address: string;
  priority: number;
  weight: number;
}

export interface MappingMsg {
  prefix: EidPrefixMsg | null;
  locators: LocatorMsg[];
  wireguardKey: Buffer;
  ttlMinutes: number;
  action: number;
}

export interface ResolveRequestMsg {
  instanceId: number;
  eid: string;
  sourceEid: string;
}

export interface ResolveReplyMsg {
  mappings: MappingMsg[];
}

export interface PushMsg {
  id: number;
  mapping: MappingMsg | null;
}

export interface PushAckMsg {
  id: number;
}

/** The port lispwg's gRPC front listens on by default (inside the control tunnel). */
export const GRPC_PORT = 4343;

let service: grpc.ServiceDefinition | undefined;

/** The MapResolver service definition (loaded once). */
export function mapResolverService(): grpc.ServiceDefinition {
  if (service) return service;
  const def = protoLoader.loadSync(join(projectRoot(), 'src', 'grpc', 'lispwg.proto'), { keepCase: false, longs: Number, enums: Number, defaults: true, arrays: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { lispwg: { control: { v1: { MapResolver: grpc.ServiceClientConstructor } } } };
  service = pkg.lispwg.control.v1.MapResolver.service;
  return service;
}

/** A client constructor for the service. */
export function mapResolverClient(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(mapResolverService(), 'MapResolver');
}
