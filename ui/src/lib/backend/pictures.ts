/** People's profile pictures, kept on this device once fetched. */
import type { PictureId } from "../bindings/PictureId";

import { call } from "./call";

/**
 * A `data:` URL of a profile picture (`User.picture`). The core fetches it from the
 * server once and keeps it on this device, so once fetched it is had offline too.
 */
export function userPicture(picture: PictureId): Promise<string> {
  return call("user_picture", { picture });
}
