-- Profile pictures (issue 28): the id of the user's current picture, whose square image
-- is the object `pictures/<id>` of the file store; a new id for every new picture, so the
-- bytes under an id never change and clients cache them for good.
ALTER TABLE users ADD COLUMN picture UUID;
-- Serving a picture asks whether someone shows it now.
CREATE INDEX users_picture ON users (picture) WHERE picture IS NOT NULL;
