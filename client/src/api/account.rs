//! The account's own calls (additions to v1, docs/protocol.md "Accounts"): the profile,
//! settings, password, address and sessions of the signed-in user, and the three that serve
//! someone who cannot sign in (an address confirmed, a reset asked for and made with a
//! mailed code), which go without a token.

use ferry_proto::endpoints;
use ferry_proto::{
    Account, AccountDeletion, AccountSettings, EmailChange, EmailVerification, PasswordChange,
    PasswordReset, PasswordResetRequest, PictureChange, PictureId, ProfileChange, SessionId,
    SessionInfo, UploadId, User,
};

use super::{Api, ApiError, SessionError};

impl Api {
    /// `POST /auth/email/verify` (addition to v1): confirms an address with its token.
    pub async fn verify_email(&self, token: &str) -> Result<(), ApiError> {
        let body = EmailVerification {
            token: token.into(),
        };
        self.send_anonymous::<endpoints::VerifyEmail>(&body).await
    }

    /// `POST /auth/password/forgot` (addition to v1): asks for a reset mail.
    pub async fn forgot_password(&self, login: &str) -> Result<(), ApiError> {
        let body = PasswordResetRequest {
            login: login.into(),
        };
        self.send_anonymous::<endpoints::ForgotPassword>(&body)
            .await
    }

    /// `POST /auth/password/reset` (addition to v1): a new password with a mailed token.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<(), ApiError> {
        let body = PasswordReset {
            token: token.into(),
            new_password: new_password.into(),
        };
        self.send_anonymous::<endpoints::ResetPassword>(&body).await
    }

    /// `PATCH /me` (addition to v1).
    pub async fn update_profile(&self, change: &ProfileChange) -> Result<User, SessionError> {
        self.send_to::<endpoints::UpdateProfile>((), change).await
    }

    /// `GET /account` (addition to v1).
    pub async fn account(&self) -> Result<Account, SessionError> {
        self.call_to::<endpoints::GetAccount>(()).await
    }

    /// `PATCH /account/settings` (addition to v1).
    pub async fn update_settings(
        &self,
        settings: &AccountSettings,
    ) -> Result<Account, SessionError> {
        self.send_to::<endpoints::UpdateSettings>((), settings)
            .await
    }

    /// `POST /account/password` (addition to v1).
    pub async fn change_password(&self, change: &PasswordChange) -> Result<(), SessionError> {
        self.send_to::<endpoints::ChangePassword>((), change).await
    }

    /// `PUT /account/email` (addition to v1).
    pub async fn change_email(&self, change: &EmailChange) -> Result<Account, SessionError> {
        self.send_to::<endpoints::ChangeEmail>((), change).await
    }

    /// `GET /account/sessions` (addition to v1).
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, SessionError> {
        self.call_to::<endpoints::Sessions>(()).await
    }

    /// `DELETE /account/sessions/{id}` (addition to v1).
    pub async fn end_session(&self, session: SessionId) -> Result<(), SessionError> {
        self.call_to::<endpoints::EndSession>((session,)).await
    }

    /// `POST /account/delete` (addition to v1).
    pub async fn delete_account(&self, password: &str) -> Result<(), SessionError> {
        let body = AccountDeletion {
            password: password.into(),
        };
        self.send_to::<endpoints::DeleteAccount>((), &body).await
    }

    /// `PUT /me/picture` (addition to v1).
    pub async fn set_picture(&self, upload: UploadId) -> Result<User, SessionError> {
        let body = PictureChange { upload_id: upload };
        self.send_to::<endpoints::SetPicture>((), &body).await
    }

    /// `DELETE /me/picture` (addition to v1).
    pub async fn remove_picture(&self) -> Result<User, SessionError> {
        self.call_to::<endpoints::RemovePicture>(()).await
    }

    /// `GET /pictures/{picture_id}` (addition to v1): the picture's bytes.
    pub async fn picture(&self, picture: PictureId) -> Result<Vec<u8>, SessionError> {
        let request = self.to::<endpoints::Picture>((picture,));
        let response = self.authorised(request).await?;
        Ok(response
            .bytes()
            .await
            .map_err(|e| ApiError::Network(super::without_url(&e)))?
            .to_vec())
    }

    /// `GET /account/export` (addition to v1): the response, to stream (a tar archive).
    pub async fn export_account(&self) -> Result<reqwest::Response, SessionError> {
        let request = self
            .to::<endpoints::ExportAccount>(())
            .timeout(super::DOWNLOAD_TIMEOUT);
        self.authorised(request).await
    }
}
