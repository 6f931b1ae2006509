// Types of eslint/rooms.js for the tests that read it.
import type { ESLint } from 'eslint';

export interface Room {
  room: string;
  imports: string[];
  io: string;
}
export const ROOMS: Room[];
export function roomOf(path: string): string;
export function roomsTable(): string;
export const roomsPlugin: ESLint.Plugin;
