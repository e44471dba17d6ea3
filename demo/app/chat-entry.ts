// Zone.js first, so every later module's promises run inside zones; then the app.
import "zone.js";
import { start } from "./chat.js";

start();
